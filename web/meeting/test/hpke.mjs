// The JavaScript half of the key interop test with Go (web/meeting/hpke_test.go): the page's
// HPKE (src/keys.js, @hpke/core and @hpke/hybridkem-x-wing) against crypto/keywrap. It reads
// a JSON request on stdin and writes a JSON answer on stdout.
//
//   {"op": "generate", "suite": "x25519" | "mlkem768x25519"}
//     -> {"public_key": "<suite>:<base64url>", "private_key": base64url}   (test only: the page never exports it)
//   {"op": "open", "suite": ..., "private_key": base64url, "wrapped": "<suite>-wrapped:...",
//    "meeting": id, "epoch": "1", "participant": id}
//     -> {"key": hex} | {"error": message}
import './webcrypto.js';
import { ParticipantKey, b64url, unb64url } from '../src/keys.js';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));

let out;
if (req.op === 'generate') {
  const k = await ParticipantKey.generate(req.suite);
  const priv = new Uint8Array(await k.suite.kem.serializePrivateKey(k.pair.privateKey));
  out = { public_key: k.publicKey, private_key: b64url(priv) };
} else if (req.op === 'open') {
  const k = await ParticipantKey.generate(req.suite);
  const sk = await k.suite.kem.deserializePrivateKey(unb64url(req.private_key).buffer);
  k.pair = { privateKey: sk };
  try {
    const key = await k.unwrap(req.wrapped, { meeting: req.meeting, epoch: BigInt(req.epoch), participant: req.participant });
    out = { key: Buffer.from(key).toString('hex') };
  } catch (e) {
    out = { error: `${e.name}: ${e.message}` };
  }
} else {
  out = { error: `unknown op ${req.op}` };
}
process.stdout.write(JSON.stringify(out));

// The JavaScript half of the wrap interop test with Go (web/meeting/e2ee_test.go): the e2ee
// leader's wrap in the page (src/keys.js wrapKey) opened by crypto/keywrap. It reads a JSON
// request on stdin and writes a JSON answer on stdout.
//
//   {"public_key": "<suite>:<base64url>", "key": hex, "meeting": id, "epoch": "1", "participant": id}
//     -> {"wrapped": "<suite>-wrapped:<base64url>"} | {"error": message}
import './webcrypto.js';
import { wrapKey } from '../src/keys.js';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));
let out;
try {
  const key = Uint8Array.from(Buffer.from(req.key, 'hex'));
  out = { wrapped: await wrapKey(req.public_key, key, { meeting: req.meeting, epoch: BigInt(req.epoch), participant: req.participant }) };
} catch (e) {
  out = { error: `${e.name}: ${e.message}` };
}
process.stdout.write(JSON.stringify(out));

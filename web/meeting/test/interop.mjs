// The JavaScript half of the interop test with Go (web/meeting/interop_test.go). It reads a
// JSON request on stdin and writes a JSON answer on stdout; hex strings, epochs as strings.
//
//   {"op": "open", "suite": 5, "epochs": [{"epoch": "1", "key": hex}], "frames": [{"codec": "vp8", "wire": hex}]}
//     -> {"results": [{"plaintext": hex} | {"error": "AuthError"}]}   (one receiver opens them in order)
//   {"op": "seal", "suite": 5, "epochs": [...], "frames": [{"codec": "vp8", "plaintext": hex, "epoch": "1", "sender": 0, "ratchet": 0}]}
//     -> {"results": [{"wire": hex} | {"error": "ShortFrameError"}]}
//        (sender n is one sending session; "ratchet" steps are taken before the frame;
//         "epoch" re-keys the sender when it differs from the sender's)
import './webcrypto.js';
import { ProfileReceiver, ProfileSender, importEpochKey } from '../src/profile.js';

const hex = {
  decode: (s) => Uint8Array.from(Buffer.from(s, 'hex')),
  encode: (b) => Buffer.from(b).toString('hex'),
};

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const keys = new Map();
for (const e of req.epochs) keys.set(e.epoch, { epoch: BigInt(e.epoch), key: await importEpochKey(hex.decode(e.key)) });

const results = [];
if (req.op === 'open') {
  const r = new ProfileReceiver({ suite: req.suite, maxEpochs: keys.size });
  for (const k of keys.values()) await r.addEpoch(k);
  for (const f of req.frames) {
    try {
      results.push({ plaintext: hex.encode(await r.open(f.codec, hex.decode(f.wire))) });
    } catch (e) {
      results.push({ error: e.name });
    }
  }
} else if (req.op === 'seal') {
  const senders = [];
  for (const f of req.frames) {
    const ek = keys.get(f.epoch);
    let s = senders[f.sender];
    if (!s) s = senders[f.sender] = await ProfileSender.create(ek, { suite: req.suite });
    else if (s.epoch !== ek.epoch) await s.rekey(ek);
    for (let i = 0; i < (f.ratchet ?? 0); i++) await s.ratchet();
    try {
      results.push({ wire: hex.encode(await s.seal(f.codec, hex.decode(f.plaintext ?? ''))) });
    } catch (e) {
      results.push({ error: e.name });
    }
  }
} else {
  throw new Error(`unknown op ${req.op}`);
}
process.stdout.write(JSON.stringify({ results }));

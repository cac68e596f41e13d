// The JavaScript half of the security code interop test with Go (web/meeting/code_test.go):
// reads {"key": hex, "epoch": "n", "roster": [...]} on stdin, writes {"code": "..."} or
// {"error": "..."}.
import './webcrypto.js';
import { securityCode } from '../src/code.js';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));
let out;
try {
  out = { code: await securityCode(Uint8Array.from(Buffer.from(req.key, 'hex')), BigInt(req.epoch), req.roster) };
} catch (e) {
  out = { error: e.message };
}
process.stdout.write(JSON.stringify(out));

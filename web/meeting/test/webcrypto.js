// Node 18 (Debian bookworm's nodejs) has WebCrypto only as node:crypto's webcrypto, not as the
// global the browser code uses; node 19 and later, like browsers, have the global. Import this
// before src/, so that it runs first.
import { webcrypto } from 'node:crypto';

if (!globalThis.crypto) globalThis.crypto = webcrypto;

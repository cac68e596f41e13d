// The SFrame benchmark, shared by node (sframe.bench.js) and Chromium (chromium.html, in a
// worker): SFrame per frame (the media profile's seal and open, AES_256_GCM_SHA512_128) next
// to raw WebCrypto AES-256-GCM on the same frames, in the same run. Raw and SFrame operations
// alternate, so that other load on the machine slows both alike, and the medians are
// compared. WebCrypto must be the global crypto (node 18: import test/webcrypto.js first).
import { ProfileReceiver, ProfileSender, Codec } from '../src/profile.js';

const subtle = globalThis.crypto.subtle;


function frame(n, first) {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(n));
  b[0] = first;
  return b;
}

const cases = [
  { name: 'VP8 delta frame, 1,200 bytes', codec: Codec.VP8, frame: frame(1200, 0x31) },
  { name: 'VP8 key frame, 1,200 bytes', codec: Codec.VP8, frame: frame(1200, 0x50) },
  { name: 'Opus, 100 bytes', codec: Codec.OPUS, frame: frame(100, 0xfc) },
];

const rawKey = await subtle.importKey('raw', globalThis.crypto.getRandomValues(new Uint8Array(32)), 'AES-GCM', false, ['encrypt', 'decrypt']);
const aad = new Uint8Array(12);

function iv(i) {
  const v = new Uint8Array(12);
  new DataView(v.buffer).setUint32(8, i);
  return v;
}

// BATCH operations are timed together: browsers coarsen performance.now() (to 100 µs in a
// page that is not cross-origin isolated), far above one operation.
const BATCH = 500;

// Runs raw(i) and sframe(i) for i in [0, N) in alternating batches of BATCH, timing each
// batch, and returns the median nanoseconds per operation of each: on a shared machine the
// median is what a frame costs, the mean is what the neighbours cost.
async function paired(N, raw, sframe) {
  const rounds = Math.max(1, Math.floor(N / BATCH));
  const tr = new Float64Array(rounds);
  const ts = new Float64Array(rounds);
  for (let r = 0; r < rounds; r++) {
    const base = r * BATCH;
    const t0 = performance.now();
    for (let i = base; i < base + BATCH; i++) await raw(i);
    const t1 = performance.now();
    for (let i = base; i < base + BATCH; i++) await sframe(i);
    ts[r] = (performance.now() - t1) / BATCH;
    tr[r] = (t1 - t0) / BATCH;
  }
  const median = (a) => a.sort()[a.length >> 1] * 1e6;
  return { raw: median(tr), sframe: median(ts) };
}

export async function measure(N) {
const rows = [];
for (const c of cases) {
  const epochKey = { epoch: 1n, key: globalThis.crypto.getRandomValues(new Uint8Array(32)) };
  const s = await ProfileSender.create(epochKey);
  // Warm up both paths.
  for (let i = 0; i < 1000; i++) { await s.seal(c.codec, c.frame); await subtle.encrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad }, rawKey, c.frame); }
  const enc = await paired(N,
    (i) => subtle.encrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad }, rawKey, c.frame),
    () => s.seal(c.codec, c.frame),
  );
  // Decrypt: distinct sealed frames (the replay window accepts each counter once).
  const wires = [];
  const raws = [];
  for (let i = 0; i < N; i++) {
    wires.push(await s.seal(c.codec, c.frame));
    raws.push(new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad }, rawKey, c.frame)));
  }
  const r = new ProfileReceiver();
  await r.addEpoch(epochKey);
  const dec = await paired(N,
    (i) => subtle.decrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad }, rawKey, raws[i]),
    (i) => r.open(c.codec, wires[i]),
  );
  rows.push({ name: c.name, enc, dec });
}

return rows;
}

/** table formats measure's rows as the Markdown table of docs/benchmarks.md. */
export function table(rows) {
  const lines = [
    '| frame | raw AES-GCM encrypt (µs) | SFrame seal (µs) | ratio | raw AES-GCM decrypt (µs) | SFrame open (µs) | ratio |',
    '|---|---|---|---|---|---|---|',
  ];
  const f = (ns) => (ns / 1000).toFixed(2);
  for (const { name, enc, dec } of rows) {
    lines.push(`| ${name} | ${f(enc.raw)} | ${f(enc.sframe)} | ${(enc.raw / enc.sframe).toFixed(2)} | ${f(dec.raw)} | ${f(dec.sframe)} | ${(dec.raw / dec.sframe).toFixed(2)} |`);
  }
  return lines.join('\n');
}

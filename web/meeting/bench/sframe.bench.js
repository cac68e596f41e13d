// Benchmarks SFrame per frame (the media profile's seal and open, AES_256_GCM_SHA512_128) next
// to raw WebCrypto AES-256-GCM on the same frames, in the same run: raw and SFrame operations
// alternate, so that other load on the machine slows both alike, and the ratio of their
// median times is printed. Usage: node bench/sframe.bench.js [frames per measurement]
import '../test/webcrypto.js';
import { ProfileReceiver, ProfileSender, Codec } from '../src/profile.js';

const subtle = globalThis.crypto.subtle;
const N = Number(process.argv[2] ?? 20000);

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

// Runs raw(i) and sframe(i) alternately for i in [0, N), timing each operation, and returns
// the median nanoseconds of each: on a shared machine the median is what a frame costs, the
// mean is what the neighbours cost.
async function paired(raw, sframe) {
  const tr = new Float64Array(N);
  const ts = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await raw(i);
    const t1 = performance.now();
    await sframe(i);
    ts[i] = performance.now() - t1;
    tr[i] = t1 - t0;
  }
  const median = (a) => a.sort()[a.length >> 1] * 1e6;
  return { raw: median(tr), sframe: median(ts) };
}

const rows = [];
for (const c of cases) {
  const epochKey = { epoch: 1n, key: globalThis.crypto.getRandomValues(new Uint8Array(32)) };
  const s = await ProfileSender.create(epochKey);
  // Warm up both paths.
  for (let i = 0; i < 1000; i++) { await s.seal(c.codec, c.frame); await subtle.encrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad }, rawKey, c.frame); }
  const enc = await paired(
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
  const dec = await paired(
    (i) => subtle.decrypt({ name: 'AES-GCM', iv: iv(i), additionalData: aad }, rawKey, raws[i]),
    (i) => r.open(c.codec, wires[i]),
  );
  rows.push({ name: c.name, enc, dec });
}

console.log(`node ${process.version}, ${N} frames per measurement, operations alternating, medians`);
console.log('| frame | raw AES-GCM encrypt (µs) | SFrame seal (µs) | ratio | raw AES-GCM decrypt (µs) | SFrame open (µs) | ratio |');
console.log('|---|---|---|---|---|---|---|');
for (const { name, enc, dec } of rows) {
  const f = (ns) => (ns / 1000).toFixed(2);
  console.log(`| ${name} | ${f(enc.raw)} | ${f(enc.sframe)} | ${(enc.raw / enc.sframe).toFixed(2)} | ${f(dec.raw)} | ${f(dec.sframe)} | ${(dec.raw / dec.sframe).toFixed(2)} |`);
}
console.log('ratio: raw time / SFrame time, i.e. SFrame throughput as a fraction of raw (1.00 = no overhead)');

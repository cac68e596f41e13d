// The SFrame benchmark, shared by node (sframe.bench.js) and Chromium (chromium.html, in a
// worker): SFrame per frame (the media profile's seal and open, AES_256_GCM_SHA512_128) next
// to raw WebCrypto AES-256-GCM in the same run, on the same bytes: the raw call encrypts what
// SFrame encrypts (the frame after its clear prefix, a view of the same Uint8Array), with a
// distinct real nonce per call and an AAD as long as SFrame's (header and prefix). Two raw
// baselines: "raw" builds a new nonce and parameter object per call, as an ordinary caller
// does; "raw, reused buffers" writes the counter into one nonce buffer and reuses its
// parameters, as SFrame's per-KID state does (in Chromium a new small Uint8Array handed to
// WebCrypto costs microseconds of its own). Raw and SFrame operations alternate in batches,
// so that other load on the machine slows all alike, and the medians are compared.
// WebCrypto must be the global crypto (node 18: import test/webcrypto.js first).
import { ProfileReceiver, ProfileSender, Codec, prefixLen } from '../src/profile.js';

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

// The profile's header: a config byte, the 8-byte KID and (at the counters measured) a
// 2-byte CTR.
const HEADER_LEN = 11;

const rawKey = await subtle.importKey('raw', globalThis.crypto.getRandomValues(new Uint8Array(32)), 'AES-GCM', false, ['encrypt', 'decrypt']);
const salt = globalThis.crypto.getRandomValues(new Uint8Array(12));

// A raw AES-GCM caller with a nonce of salt XOR counter i: fresh buffers per call, or one.
function rawCaller(aadLen) {
  const aad = new Uint8Array(aadLen);
  const fresh = (i) => {
    const iv = salt.slice();
    const v = new DataView(iv.buffer);
    v.setUint32(8, v.getUint32(8) ^ i);
    return { name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 };
  };
  const iv = salt.slice();
  const v = new DataView(iv.buffer);
  const lo = v.getUint32(8);
  const reused = { name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 };
  const once = (i) => {
    v.setUint32(8, lo ^ i);
    return reused;
  };
  return {
    encrypt: (i, data) => subtle.encrypt(fresh(i), rawKey, data),
    decrypt: (i, data) => subtle.decrypt(fresh(i), rawKey, data),
    encryptReused: (i, data) => subtle.encrypt(once(i), rawKey, data),
    decryptReused: (i, data) => subtle.decrypt(once(i), rawKey, data),
  };
}

// BATCH operations are timed together: browsers coarsen performance.now() (to 100 µs in a
// page that is not cross-origin isolated), far above one operation.
const BATCH = 500;

// Runs each of fns (name -> f(i)) for i in [0, N) in alternating batches of BATCH, timing
// each batch, and returns the median nanoseconds per operation of each: on a shared machine
// the median is what a frame costs, the mean is what the neighbours cost.
async function paired(N, fns) {
  const rounds = Math.max(1, Math.floor(N / BATCH));
  const names = Object.keys(fns);
  const times = names.map(() => new Float64Array(rounds));
  for (let r = 0; r < rounds; r++) {
    const base = r * BATCH;
    for (let j = 0; j < names.length; j++) {
      const f = fns[names[j]];
      const t0 = performance.now();
      for (let i = base; i < base + BATCH; i++) await f(i);
      times[j][r] = (performance.now() - t0) / BATCH;
    }
  }
  const median = (a) => a.sort()[a.length >> 1] * 1e6;
  return Object.fromEntries(names.map((name, j) => [name, median(times[j])]));
}

export async function measure(N) {
  const rows = [];
  for (const c of cases) {
    const n = prefixLen(c.codec, c.frame);
    const payload = c.frame.subarray(n);
    const raw = rawCaller(HEADER_LEN + n);
    const epochKey = { epoch: 1n, key: globalThis.crypto.getRandomValues(new Uint8Array(32)) };
    const s = await ProfileSender.create(epochKey);
    // Warm up every path.
    for (let i = 0; i < 1000; i++) {
      await s.seal(c.codec, c.frame);
      await raw.encrypt(i, payload);
      await raw.encryptReused(i, payload);
    }
    const enc = await paired(N, {
      raw: (i) => raw.encrypt(i, payload),
      rawReused: (i) => raw.encryptReused(i, payload),
      sframe: () => s.seal(c.codec, c.frame),
    });
    // Decrypt: distinct sealed frames (the replay window accepts each counter once).
    const first = await s.seal(c.codec, c.frame);
    const wires = [];
    const raws = [];
    for (let i = 0; i < N; i++) {
      wires.push(await s.seal(c.codec, c.frame));
      raws.push(new Uint8Array(await raw.encrypt(i, payload)));
    }
    const r = new ProfileReceiver();
    await r.addEpoch(epochKey);
    await r.open(c.codec, first); // the sender becomes known (its key derived), outside the timing
    const dec = await paired(N, {
      raw: (i) => raw.decrypt(i, raws[i]),
      rawReused: (i) => raw.decryptReused(i, raws[i]),
      sframe: (i) => r.open(c.codec, wires[i]),
    });
    rows.push({ name: c.name, enc, dec });
  }
  return rows;
}

/** table formats measure's rows as the Markdown table of docs/benchmarks.md. */
export function table(rows) {
  const lines = [
    '| frame | encrypt: raw / reused (µs) | SFrame seal (µs) | ratio to raw / reused | decrypt: raw / reused (µs) | SFrame open (µs) | ratio to raw / reused |',
    '|---|---|---|---|---|---|---|',
  ];
  const f = (ns) => (ns / 1000).toFixed(2);
  const q = (a, b) => (a / b).toFixed(2);
  for (const { name, enc, dec } of rows) {
    lines.push(`| ${name} | ${f(enc.raw)} / ${f(enc.rawReused)} | ${f(enc.sframe)} | ${q(enc.raw, enc.sframe)} / ${q(enc.rawReused, enc.sframe)} | ${f(dec.raw)} / ${f(dec.rawReused)} | ${f(dec.sframe)} | ${q(dec.raw, dec.sframe)} / ${q(dec.rawReused, dec.sframe)} |`);
  }
  return lines.join('\n');
}

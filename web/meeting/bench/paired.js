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

// Runs each of fns (name -> f(i)) for i in [0, N) in alternating batches of BATCH (in an
// order that rotates each round), timing
// each batch, and returns the median nanoseconds per operation of each (on a shared machine
// the median is what a frame costs, the mean is what the neighbours cost) and, under
// "ratio", for each the median over rounds of its batch time over the last one's in the same
// round (the pairing cancels load that changes from round to round).
async function paired(N, fns) {
  const batch = Math.min(BATCH, N); // a run of fewer than BATCH frames is one round of them all
  const rounds = Math.max(1, Math.floor(N / batch));
  const names = Object.keys(fns);
  const times = names.map(() => new Float64Array(rounds));
  for (let r = 0; r < rounds; r++) {
    const base = r * batch;
    // The order rotates from round to round, so that no step always follows the same one
    // (and inherits its garbage).
    for (let q = 0; q < names.length; q++) {
      const j = (q + r) % names.length;
      const f = fns[names[j]];
      const t0 = performance.now();
      for (let i = base; i < base + batch; i++) await f(i);
      times[j][r] = (performance.now() - t0) / batch;
    }
  }
  const median = (a) => Float64Array.from(a).sort()[a.length >> 1];
  const last = times[names.length - 1];
  const ratio = Object.fromEntries(names.map((name, j) => [name, median(times[j].map((t, r) => t / last[r]))]));
  return { ...Object.fromEntries(names.map((name, j) => [name, median(times[j]) * 1e6])), ratio };
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
    const { r, wires, raws } = await sealed(N, s, raw, c, payload, epochKey);
    const dec = await paired(N, {
      raw: (i) => raw.decrypt(i, raws[i]),
      rawReused: (i) => raw.decryptReused(i, raws[i]),
      sframe: (i) => r.open(c.codec, wires[i]),
    });
    rows.push({ name: c.name, enc, dec });
  }
  return rows;
}

/**
 * sealed makes what a decrypt round opens: N distinct frames sealed by s (the replay window
 * accepts each counter once) and N raw ciphertexts of payload, and a receiver of epochKey that
 * has opened one frame of s already, so that deriving the sender's key falls outside the timing.
 */
async function sealed(N, s, raw, c, payload, epochKey) {
  const first = await s.seal(c.codec, c.frame);
  const wires = [];
  const raws = [];
  for (let i = 0; i < N; i++) {
    wires.push(await s.seal(c.codec, c.frame));
    raws.push(new Uint8Array(await raw.encrypt(i, payload)));
  }
  const r = new ProfileReceiver();
  await r.addEpoch(epochKey);
  await r.open(c.codec, first);
  return { r, wires, raws };
}

/**
 * table formats measure's rows as the Markdown table of docs/benchmarks.md; the ratios are
 * the per-round ones (raw batch time / SFrame batch time of the same round, median).
 */
export function table(rows) {
  const lines = [
    '| frame | encrypt: raw / reused (µs) | SFrame seal (µs) | ratio to raw / reused | decrypt: raw / reused (µs) | SFrame open (µs) | ratio to raw / reused |',
    '|---|---|---|---|---|---|---|',
  ];
  const f = (ns) => (ns / 1000).toFixed(2);
  const q = (m) => `${m.ratio.raw.toFixed(2)} / ${m.ratio.rawReused.toFixed(2)}`;
  for (const { name, enc, dec } of rows) {
    lines.push(`| ${name} | ${f(enc.raw)} / ${f(enc.rawReused)} | ${f(enc.sframe)} | ${q(enc)} | ${f(dec.raw)} / ${f(dec.rawReused)} | ${f(dec.sframe)} | ${q(dec)} |`);
  }
  return lines.join('\n');
}

/**
 * measureParts splits the cost of one 1,200-byte VP8 delta frame into what the JavaScript
 * around WebCrypto adds, each step alternating with the others (medians, ns per operation):
 * the raw call with fresh and reused nonce buffers, the same plus the one buffer of the
 * frame's size that any framing of the output needs (allocated while WebCrypto runs, filled
 * after), and the profile's seal and open. What SFrame adds beyond the framed raw call is
 * its own work (header, AAD, counter, replay window, key lookup).
 */
export async function measureParts(N) {
  const c = cases[0];
  const n = prefixLen(c.codec, c.frame);
  const payload = c.frame.subarray(n);
  const prefix = c.frame.subarray(0, n);
  const raw = rawCaller(HEADER_LEN + n);
  const epochKey = { epoch: 1n, key: globalThis.crypto.getRandomValues(new Uint8Array(32)) };
  const s = await ProfileSender.create(epochKey);
  const framed = (p, len, off) => {
    const out = new Uint8Array(len);
    out.set(prefix);
    return p.then((b) => {
      out.set(new Uint8Array(b), off);
      return out;
    });
  };
  const wireLen = n + HEADER_LEN + payload.length + 16;
  const enc = await paired(N, {
    'raw encrypt': (i) => raw.encrypt(i, payload),
    'raw encrypt, reused buffers': (i) => raw.encryptReused(i, payload),
    'raw encrypt, reused buffers, framed': (i) => framed(raw.encryptReused(i, payload), wireLen, n + HEADER_LEN),
    'SFrame seal': () => s.seal(c.codec, c.frame),
  });
  const { r, wires, raws } = await sealed(N, s, raw, c, payload, epochKey);
  const dec = await paired(N, {
    'raw decrypt': (i) => raw.decrypt(i, raws[i]),
    'raw decrypt, reused buffers': (i) => raw.decryptReused(i, raws[i]),
    'raw decrypt, reused buffers, framed': (i) => framed(raw.decryptReused(i, raws[i]), c.frame.length, n),
    'SFrame open': (i) => r.open(c.codec, wires[i]),
  });
  delete enc.ratio;
  delete dec.ratio;
  return { ...enc, ...dec };
}

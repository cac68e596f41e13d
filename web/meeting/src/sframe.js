// SFrame (RFC 9605) on WebCrypto, for the browser meeting client: the header of section 4.3,
// the key derivation of section 4.4.2, the five cipher suites of section 4.5 (AES-GCM and
// AES-CTR + HMAC-SHA256, section 4.5.1), the sender keys and ratchet of section 5.1 and a
// sliding replay window (section 9.3). It mirrors the Go package crypto/sframe; both pass the
// RFC's test vectors.
//
// KIDs and CTRs are BigInts in the API (they are 64-bit). Per frame, no BigInt arithmetic is
// done: a CTR travels as two 32-bit halves (hi, lo), the header is parsed into such halves,
// and each KID's nonce, AAD and algorithm parameters live in buffers allocated once.
// Every operation that touches keys returns a promise, because WebCrypto does. A Sender takes
// its CTR synchronously, before any await, so concurrent encrypts never share a counter; a
// Receiver serializes whatever may add or move keys.

const subtle = globalThis.crypto.subtle;

/** The cipher suites of the IANA registry (RFC 9605 section 8.1). */
export const Suite = Object.freeze({
  AES_128_CTR_HMAC_SHA256_80: 1,
  AES_128_CTR_HMAC_SHA256_64: 2,
  AES_128_CTR_HMAC_SHA256_32: 3,
  AES_128_GCM_SHA256_128: 4,
  AES_256_GCM_SHA512_128: 5,
});

/** AES_256_GCM_SHA512_128, the suite Geofence uses for media (invariant I5). */
export const DEFAULT_SUITE = Suite.AES_256_GCM_SHA512_128;

/** The longest header: a config byte and 8-byte KID and CTR fields. */
export const MAX_HEADER_LEN = 17;

/** Each KID's replay window, in counters. */
export const REPLAY_WINDOW = 128;

const NONCE_SIZE = 12;
const MIN_BASE_KEY_LEN = 16;
const U64_MAX = (1n << 64n) - 1n;

// Table 1 of section 4.5.
const SUITES = {
  1: { name: 'AES_128_CTR_HMAC_SHA256_80', hash: 'SHA-256', nh: 32, nka: 16, nk: 48, nt: 10 },
  2: { name: 'AES_128_CTR_HMAC_SHA256_64', hash: 'SHA-256', nh: 32, nka: 16, nk: 48, nt: 8 },
  3: { name: 'AES_128_CTR_HMAC_SHA256_32', hash: 'SHA-256', nh: 32, nka: 16, nk: 48, nt: 4 },
  4: { name: 'AES_128_GCM_SHA256_128', hash: 'SHA-256', nh: 32, nka: 0, nk: 16, nt: 16 },
  5: { name: 'AES_256_GCM_SHA512_128', hash: 'SHA-512', nh: 64, nka: 0, nk: 32, nt: 16 },
};

function sframeError(name, message) {
  const e = new Error(message);
  e.name = name;
  return e;
}

// The errors of a failed decrypt, told apart by name, as Go's sentinels are.
export class MalformedError extends Error {
  constructor(message) { super(message); this.name = 'MalformedError'; }
}
export class UnknownKeyError extends Error {
  constructor(message = 'sframe: decrypt: no key for the frame\'s KID') { super(message); this.name = 'UnknownKeyError'; }
}
export class AuthError extends Error {
  constructor(message = 'sframe: decrypt: authentication failed') { super(message); this.name = 'AuthError'; }
}
export class ReplayError extends Error {
  constructor(message = 'sframe: decrypt: replayed or too old counter') { super(message); this.name = 'ReplayError'; }
}
export class CounterExhaustedError extends Error {
  constructor(message = 'sframe: encrypt: counter exhausted for this key; ratchet or install a new key') { super(message); this.name = 'CounterExhaustedError'; }
}

/** Returns the constants of suite, or throws for one outside the registry. */
export function suiteParams(suite) {
  const p = SUITES[suite];
  if (!p) throw sframeError('UnsupportedSuiteError', `sframe: suite ${suite}: not an RFC 9605 cipher suite (1 to 5)`);
  return p;
}

/** The tag length of suite (AEAD.Nt). */
export function overhead(suite) { return suiteParams(suite).nt; }

function checkKey(op, suite, baseKey) {
  suiteParams(suite);
  if (!(baseKey instanceof Uint8Array) || baseKey.length < MIN_BASE_KEY_LEN) {
    throw new RangeError(`sframe: ${op}: base key must be at least ${MIN_BASE_KEY_LEN} random bytes`);
  }
}

function toU64(v, what) {
  const b = BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`sframe: ${what} ${b} out of the 64-bit range`);
  return b;
}

// A 64-bit value from its 32-bit halves, and back.
const TWO_32 = 4294967296;
function toBig(hi, lo) { return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo); }
function hiOf(v) { return Number(v >> 32n); }
function loOf(v) { return Number(v & 0xffffffffn); }

// ---- Header (section 4.3) ----

function fieldLen(v) {
  if (v < 8n) return 0;
  let n = 0;
  for (; v > 0n; v >>= 8n) n++;
  return n;
}

/** Returns the minimal encoding of the header (kid, ctr). */
export function encodeHeader(kid, ctr) {
  kid = toU64(kid, 'KID');
  ctr = toU64(ctr, 'CTR');
  const kl = fieldLen(kid);
  const cl = fieldLen(ctr);
  const out = new Uint8Array(1 + kl + cl);
  let cfg = kl === 0 ? Number(kid) << 4 : 0x80 | ((kl - 1) << 4);
  cfg |= cl === 0 ? Number(ctr) : 0x08 | (cl - 1);
  out[0] = cfg;
  for (let i = 0; i < kl; i++) out[1 + i] = Number((kid >> BigInt(8 * (kl - 1 - i))) & 0xffn);
  for (let i = 0; i < cl; i++) out[1 + kl + i] = Number((ctr >> BigInt(8 * (cl - 1 - i))) & 0xffn);
  return out;
}

// Reads one KID or CTR field of the header at off, given its nibble of the config byte, into
// h[hiName] and h[loName]; returns the offset after it.
function readField(b, off, nibble, what, h, hiName, loName) {
  let hi = 0;
  let lo = nibble & 7;
  if ((nibble & 0x08) !== 0) {
    const n = (nibble & 7) + 1;
    if (b.length - off < n) throw new MalformedError(`sframe: parse header: ${what} truncated`);
    // Minimal: no leading zero byte, and a one-byte field holds 8 or more.
    if (b[off] === 0 || (n === 1 && b[off] < 8)) throw new MalformedError(`sframe: parse header: ${what} not minimally encoded`);
    lo = 0;
    for (let i = 0; i < n; i++) {
      hi = ((hi << 8) | (lo >>> 24)) >>> 0;
      lo = ((lo << 8) | b[off + i]) >>> 0;
    }
    off += n;
  }
  h[hiName] = hi;
  h[loName] = lo;
  return off;
}

/**
 * Parses the header at the start of b into h, without BigInts: h.kidHi, h.kidLo, h.ctrHi and
 * h.ctrLo (the 32-bit halves of KID and CTR) and h.length. Returns h; throws MalformedError.
 */
function readHeader(b, h) {
  if (b.length === 0) throw new MalformedError('sframe: parse header: empty input');
  const cfg = b[0];
  const off = readField(b, 1, cfg >> 4, 'KID', h, 'kidHi', 'kidLo');
  h.length = readField(b, off, cfg & 0x0f, 'CTR', h, 'ctrHi', 'ctrLo');
  return h;
}

/**
 * Parses the header at the start of b: {kid, ctr, length}. b is untrusted: a truncated or
 * non-minimal header throws MalformedError.
 */
export function parseHeader(b) {
  const h = readHeader(b, {});
  return { kid: toBig(h.kidHi, h.kidLo), ctr: toBig(h.ctrHi, h.ctrLo), length: h.length };
}

// The number of bytes of a CTR field (0 for a CTR below 8, carried in the config byte).
function ctrFieldLen(hi, lo) {
  if (hi === 0) return lo < 8 ? 0 : lo < 0x100 ? 1 : lo < 0x10000 ? 2 : lo < 0x1000000 ? 3 : 4;
  return hi < 0x100 ? 5 : hi < 0x10000 ? 6 : hi < 0x1000000 ? 7 : 8;
}

// ---- Key derivation (sections 4.4.2 and 5.1) ----

const enc = new TextEncoder();

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function u64bytes(v) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v));
  return b;
}

function u16bytes(v) {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v);
  return b;
}

/**
 * HKDF (RFC 5869) extract-then-expand to length bytes. ikm is bytes or an HKDF CryptoKey (a
 * non-extractable key stays so); salt and info are bytes.
 */
export async function hkdf(hash, ikm, salt, info, length) {
  const key = ikm instanceof Uint8Array ? await subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']) : ikm;
  const bits = await subtle.deriveBits({ name: 'HKDF', hash, salt, info }, key, length * 8);
  return new Uint8Array(bits);
}

const EMPTY = new Uint8Array(0);

function label(prefix, kid, suite) {
  return concat(enc.encode(prefix), u64bytes(kid), u16bytes(suite));
}

/** derive_key_salt of section 4.4.2: {key, salt} for kid from baseKey. The result is secret. */
export async function deriveKeySalt(suite, kid, baseKey) {
  const p = suiteParams(suite);
  const key = await hkdf(p.hash, baseKey, EMPTY, label('SFrame 1.0 Secret key ', kid, suite), p.nk);
  const salt = await hkdf(p.hash, baseKey, EMPTY, label('SFrame 1.0 Secret salt ', kid, suite), NONCE_SIZE);
  return { key, salt };
}

/** The ratchet of section 5.1: base_key[i+1] from base_key[i]. */
export async function ratchetBaseKey(suite, baseKey) {
  const p = suiteParams(suite);
  return hkdf(p.hash, baseKey, EMPTY, enc.encode('SFrame 1.0 Ratchet'), p.nh);
}

// ---- Per-KID keys ----

function timingSafeEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// The AAD a GCM key builds in its own buffer (header and metadata up to this length); a
// longer one is allocated.
const AAD_SCRATCH = 64;

/**
 * The encryption state of one KID: its AEAD keys, imported once, its salt, its header bytes,
 * and for AES-GCM the nonce, AAD and parameter buffers every frame reuses. Reusing them is
 * safe because WebCrypto copies its arguments when called (the "get a copy of the bytes held
 * by" steps of encrypt and decrypt), before any other frame can write them; the AES-CTR +
 * HMAC suites, which use nonce and AAD again after an await, get fresh ones per frame.
 */
class Key {
  static async create(suite, kid, baseKey) {
    const p = suiteParams(suite);
    const { key, salt } = await deriveKeySalt(suite, kid, baseKey);
    const k = new Key();
    k.suite = suite;
    k.kid = kid;
    k.nt = p.nt;
    k.salt = salt;
    const kh = encodeHeader(kid, 0n);
    k.kidCfg = kh[0] & 0xf0;
    k.kidBytes = kh.slice(1);
    const sv = new DataView(salt.buffer, salt.byteOffset, salt.byteLength);
    k.saltHi = sv.getUint32(4);
    k.saltLo = sv.getUint32(8);
    k.gcmKey = null;
    if (p.nka > 0) {
      // derive_subkeys of section 4.5.1: the AES key, then the HMAC key.
      k.ctrKey = await subtle.importKey('raw', key.subarray(0, p.nka), 'AES-CTR', false, ['encrypt']);
      k.macKey = await subtle.importKey('raw', key.subarray(p.nka), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    } else {
      k.gcmKey = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
      k.iv = new Uint8Array(new ArrayBuffer(NONCE_SIZE));
      k.iv.set(salt);
      k.ivView = new DataView(k.iv.buffer);
      k.aadBuf = new Uint8Array(new ArrayBuffer(AAD_SCRATCH));
      k.params = { name: 'AES-GCM', iv: k.iv, additionalData: k.aadBuf, tagLength: 128 };
    }
    key.fill(0);
    return k;
  }

  /** The length of the header of this KID's frame (hi, lo). */
  headerLen(hi, lo) { return 1 + this.kidBytes.length + ctrFieldLen(hi, lo); }

  /** Writes the header of this KID's frame (hi, lo), encodeHeader(kid, ctr), at out[o]. */
  writeHeader(out, o, hi, lo) {
    const kb = this.kidBytes;
    const cl = ctrFieldLen(hi, lo);
    out[o++] = this.kidCfg | (cl === 0 ? lo : 0x08 | (cl - 1));
    for (let i = 0; i < kb.length; i++) out[o++] = kb[i];
    for (let b = cl - 1; b >= 4; b--) out[o++] = (hi >>> (8 * (b - 4))) & 0xff;
    for (let b = Math.min(cl, 4) - 1; b >= 0; b--) out[o++] = (lo >>> (8 * b)) & 0xff;
  }

  // A buffer for an AAD of n bytes: the key's own (GCM), or a new one.
  aadBuffer(n) { return this.gcmKey && n <= AAD_SCRATCH ? this.aadBuf : new Uint8Array(n); }

  /** The AAD of section 4.4.3, header || metadata, for this KID's frame (hi, lo). */
  sealAAD(hi, lo, hl, metadata) {
    const a = this.aadBuffer(hl + metadata.length);
    this.writeHeader(a, 0, hi, lo);
    a.set(metadata, hl);
    return a.subarray(0, hl + metadata.length);
  }

  /** The AAD of section 4.4.3, header || metadata, the header being the first hl bytes of frame. */
  openAAD(frame, hl, metadata) {
    const a = this.aadBuffer(hl + metadata.length);
    for (let i = 0; i < hl; i++) a[i] = frame[i];
    a.set(metadata, hl);
    return a.subarray(0, hl + metadata.length);
  }

  // The nonce of section 4.4.3: salt XOR CTR, the CTR as a 12-byte big-endian integer. GCM
  // writes it into its own buffer; the AES-CTR suites get a fresh one.
  nonce(hi, lo) {
    const n = this.gcmKey ? this.iv : this.salt.slice();
    const v = this.gcmKey ? this.ivView : new DataView(n.buffer);
    v.setUint32(4, (this.saltHi ^ hi) >>> 0);
    v.setUint32(8, (this.saltLo ^ lo) >>> 0);
    return n;
  }

  async tag(nonce, aad, ct) {
    const lens = new Uint8Array(24);
    const v = new DataView(lens.buffer);
    v.setBigUint64(0, BigInt(aad.length));
    v.setBigUint64(8, BigInt(ct.length));
    v.setBigUint64(16, BigInt(this.nt));
    const mac = await subtle.sign('HMAC', this.macKey, concat(lens, nonce, aad, ct));
    return new Uint8Array(mac, 0, this.nt);
  }

  ctr(nonce, data) {
    const counter = concat(nonce, new Uint8Array(4));
    return subtle.encrypt({ name: 'AES-CTR', counter, length: 64 }, this.ctrKey, data);
  }

  /**
   * AEAD.Encrypt for CTR (hi, lo): a promise of ciphertext || tag, an ArrayBuffer (GCM, as
   * WebCrypto returns it) or a Uint8Array (AES-CTR + HMAC). aad comes from this.aad.
   */
  seal(hi, lo, aad, plaintext) {
    const nonce = this.nonce(hi, lo);
    if (this.gcmKey) {
      this.params.additionalData = aad;
      return subtle.encrypt(this.params, this.gcmKey, plaintext);
    }
    return this.sealCTR(nonce, aad, plaintext);
  }

  async sealCTR(nonce, aad, plaintext) {
    const ct = new Uint8Array(await this.ctr(nonce, plaintext));
    return concat(ct, await this.tag(nonce, aad, ct));
  }

  /**
   * AEAD.Decrypt: a promise of the plaintext (an ArrayBuffer or a Uint8Array). It rejects
   * when the frame does not authenticate; the caller reports that as AuthError.
   */
  open(hi, lo, aad, body) {
    const nonce = this.nonce(hi, lo);
    if (this.gcmKey) {
      this.params.additionalData = aad;
      return subtle.decrypt(this.params, this.gcmKey, body);
    }
    return this.openCTR(nonce, aad, body);
  }

  async openCTR(nonce, aad, body) {
    const ct = body.subarray(0, body.length - this.nt);
    const want = await this.tag(nonce, aad, ct);
    if (!timingSafeEqual(want, body.subarray(body.length - this.nt))) throw new AuthError();
    return this.ctr(nonce, ct);
  }
}

// Bytes of what Key.seal or Key.open resolved to.
function bytes(b) { return b instanceof Uint8Array ? b : new Uint8Array(b); }

function authFailed(e) { throw e instanceof AuthError ? e : new AuthError(); }

// ---- Sender ----

function ratchetMask(bits) { return (1n << BigInt(bits)) - 1n; }

function checkRatchetBits(bits) {
  if (!Number.isInteger(bits) || bits < 1 || bits > 64) throw new RangeError(`sframe: ratchet bits ${bits} out of range: want 1 to 64`);
}

/**
 * Sender encrypts frames with one KID's key; its CTR starts at 0, goes up by one per frame and
 * never repeats or wraps (sections 4.4.3 and 9.1). Create it with Sender.create.
 */
export class Sender {
  /**
   * Returns a Sender for kid with baseKey. With ratchetBits (R, 1 to 64) it is a sender of
   * section 5.1: the low R bits of kid are its ratchet step.
   */
  static async create(suite, kid, baseKey, { ratchetBits = 0 } = {}) {
    checkKey('new sender', suite, baseKey);
    if (ratchetBits) checkRatchetBits(ratchetBits);
    const s = new Sender();
    s.suite = suite;
    s._kid = toU64(kid, 'KID');
    s._key = await Key.create(suite, s._kid, baseKey);
    s._hi = 0; // the CTR of the next frame, in 32-bit halves
    s._lo = 0;
    s._exhausted = false;
    s._bits = ratchetBits;
    s._base = ratchetBits ? baseKey.slice() : null;
    s._ratcheting = Promise.resolve();
    return s;
  }

  /** The KID of the next frame. */
  get kid() { return this._kid; }

  /** The CTR of the next frame. */
  get nextCounter() {
    if (this._exhausted) throw new CounterExhaustedError();
    return toBig(this._hi, this._lo);
  }

  /** Makes next the CTR of the next frame; it only moves forward. */
  advanceCounter(next) {
    next = toU64(next, 'CTR');
    if (this._exhausted) throw new CounterExhaustedError();
    const cur = toBig(this._hi, this._lo);
    if (next < cur) throw new RangeError(`sframe: advance counter to ${next}: below the next counter ${cur}, which would reuse nonces`);
    this._hi = hiOf(next);
    this._lo = loOf(next);
  }

  /**
   * Encrypts plaintext as one SFrame ciphertext, header || AEAD.Encrypt(key, nonce, header ||
   * metadata, plaintext) (section 4.4.3). metadata is authenticated but not sent.
   */
  encrypt(metadata, plaintext) { return this._seal(metadata, plaintext, EMPTY); }

  /**
   * encrypt, returning metadata || ciphertext: for a caller that sends the metadata in clear
   * before the frame (the media profile's codec prefix), with one copy of the frame.
   */
  encryptAfterMetadata(metadata, plaintext) { return this._seal(metadata, plaintext, metadata); }

  // A promise of lead || header || AEAD.Encrypt(...), written into one buffer.
  _seal(metadata, plaintext, lead) {
    if (!(metadata instanceof Uint8Array) || !(plaintext instanceof Uint8Array)) return Promise.reject(new TypeError('sframe: encrypt: metadata and plaintext must be Uint8Arrays'));
    if (this._exhausted) return Promise.reject(new CounterExhaustedError());
    // Taken before any await: concurrent calls get distinct counters, and keys.
    const key = this._key;
    const hi = this._hi;
    const lo = this._lo;
    if (lo !== 0xffffffff) this._lo = lo + 1;
    else if (hi !== 0xffffffff) { this._hi = hi + 1; this._lo = 0; } else this._exhausted = true;
    const hl = key.headerLen(hi, lo);
    const sealing = key.seal(hi, lo, key.sealAAD(hi, lo, hl, metadata), plaintext);
    // Built while WebCrypto encrypts on its own thread; only the AEAD output is copied after.
    const off = lead.length + hl;
    const out = new Uint8Array(off + plaintext.length + key.nt);
    out.set(lead);
    key.writeHeader(out, lead.length, hi, lo);
    return sealing.then((sealed) => {
      out.set(bytes(sealed), off);
      return out;
    });
  }

  /**
   * Moves a ratchet sender to its next step (section 5.1): new base key, ratchet step + 1
   * (mod 2^R), CTR back to 0. The previous base key is erased.
   */
  ratchet() {
    const run = async () => {
      if (!this._bits) throw new Error(`sframe: ratchet: sender for KID ${this._kid} was not created with ratchetBits`);
      const base = await ratchetBaseKey(this.suite, this._base);
      const mask = ratchetMask(this._bits);
      const kid = (this._kid & ~mask) | ((this._kid + 1n) & mask);
      const key = await Key.create(this.suite, kid, base);
      this._base.fill(0);
      this._base = base;
      this._kid = kid;
      this._key = key;
      this._hi = 0;
      this._lo = 0;
      this._exhausted = false;
    };
    this._ratcheting = this._ratcheting.then(run, run);
    return this._ratcheting;
  }
}

// ---- Replay window (section 9.3) ----

/**
 * A sliding window over CTRs, in the manner of RFC 3711 section 3.3.2: the highest CTR
 * accepted (top) and which of the REPLAY_WINDOW CTRs up to it were seen, a bitmap indexed by
 * CTR modulo REPLAY_WINDOW (a power of two), so that moving the window clears bits rather
 * than shifting them. check and accept take BigInts; checkParts and acceptParts the CTR's
 * 32-bit halves.
 */
export class ReplayWindow {
  constructor() {
    this.any = false;
    this.topHi = 0;
    this.topLo = 0;
    this.seen = new Uint8Array(REPLAY_WINDOW);
  }

  /** The highest CTR accepted (0n before any). */
  get top() { return toBig(this.topHi, this.topLo); }

  /** Whether ctr may be accepted: newer than the top, or in the window and unseen. */
  check(ctr) { return this.checkParts(hiOf(ctr), loOf(ctr)); }

  /** Records ctr, which check allowed and which authenticated. */
  accept(ctr) { this.acceptParts(hiOf(ctr), loOf(ctr)); }

  // top - ctr: exact below 2^53, and any larger distance stays larger than the window.
  _below(hi, lo) { return (this.topHi - hi) * TWO_32 + (this.topLo - lo); }

  checkParts(hi, lo) {
    if (!this.any) return true;
    const d = this._below(hi, lo);
    if (d < 0) return true;
    return d < REPLAY_WINDOW && this.seen[lo & (REPLAY_WINDOW - 1)] === 0;
  }

  acceptParts(hi, lo) {
    const up = this.any ? -this._below(hi, lo) : REPLAY_WINDOW;
    if (up >= REPLAY_WINDOW) {
      this.seen.fill(0);
    } else {
      // The slots of top+1 .. ctr held CTRs that now fall out of the window.
      for (let i = 1; i <= up; i++) this.seen[(this.topLo + i) & (REPLAY_WINDOW - 1)] = 0;
    }
    if (up > 0) {
      this.any = true;
      this.topHi = hi;
      this.topLo = lo;
    }
    this.seen[lo & (REPLAY_WINDOW - 1)] = 1;
  }

  /** Whether the top has reached n (a number). */
  reached(n) { return this.any && (this.topHi > 0 || this.topLo >= n); }
}

// ---- Receiver ----

/**
 * Receiver decrypts SFrame ciphertexts with the keys of one KID space (the SFrame context of
 * appendix A): static keys (addKey) and section 5.1 sender ratchets (addRatchetKey), which it
 * follows forward when a frame of a later step authenticates. Its operations are serialized.
 */
export class Receiver {
  /**
   * maxRatchetSteps bounds how far one frame may move a ratchet (each step is an HKDF done
   * before the frame is known to be authentic); default 16.
   */
  constructor({ maxRatchetSteps = 16 } = {}) {
    this.maxRatchetSteps = maxRatchetSteps;
    this._keys = new Map(); // kid -> {key, window, chain}
    this._chains = [];
    this._lock = Promise.resolve();
    this._h = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 }; // the header of the frame decrypt is looking at (used before any await)
  }

  _serial(fn) {
    const p = this._lock.then(fn, fn);
    this._lock = p.then(() => {}, () => {});
    return p;
  }

  _covered(kid) { return this._keys.has(kid) || this._chainFor(kid) !== null; }

  _chainFor(kid) {
    for (const c of this._chains) if ((kid & ~c.mask) === c.gen) return c;
    return null;
  }

  /** Adds a decryption key for kid. Throws DuplicateKIDError if kid is covered. */
  addKey(suite, kid, baseKey) {
    checkKey('add key', suite, baseKey);
    kid = toU64(kid, 'KID');
    return this._serial(async () => {
      if (this._covered(kid)) throw sframeError('DuplicateKIDError', `sframe: add key for KID ${kid}: KID already has a key; remove it first`);
      this._keys.set(kid, { key: await Key.create(suite, kid, baseKey), window: new ReplayWindow(), chain: null });
    });
  }

  /** Adds a section 5.1 sender at its current kid (step in the low ratchetBits bits) and base key. */
  addRatchetKey(suite, kid, ratchetBits, baseKey) {
    checkRatchetBits(ratchetBits);
    checkKey('add ratchet key', suite, baseKey);
    kid = toU64(kid, 'KID');
    return this._serial(async () => {
      const mask = ratchetMask(ratchetBits);
      const c = { suite, mask, gen: kid & ~mask, base: baseKey.slice(), cur: null, prev: null };
      for (const o of this._chains) {
        if ((c.gen & ~o.mask) === o.gen || (o.gen & ~c.mask) === c.gen) {
          throw sframeError('DuplicateKIDError', `sframe: add ratchet key for KID ${kid}: generation overlaps the ratchet of KID ${o.cur.kid}`);
        }
      }
      for (const k of this._keys.keys()) {
        if ((k & ~mask) === c.gen) throw sframeError('DuplicateKIDError', `sframe: add ratchet key for KID ${kid}: generation covers KID ${k}`);
      }
      const rk = { key: await Key.create(suite, kid, baseKey), window: new ReplayWindow(), chain: c };
      c.cur = rk;
      this._chains.push(c);
      this._keys.set(kid, rk);
    });
  }

  /** Forgets kid's key, or the whole ratchet kid belongs to. */
  removeKey(kid) {
    kid = toU64(kid, 'KID');
    return this._serial(async () => this._remove(kid));
  }

  _remove(kid) {
    const i = this._chains.findIndex((c) => (kid & ~c.mask) === c.gen);
    if (i >= 0) {
      const c = this._chains[i];
      this._keys.delete(c.cur.key.kid);
      if (c.prev) this._keys.delete(c.prev.key.kid);
      c.base.fill(0);
      this._chains.splice(i, 1);
      return;
    }
    this._keys.delete(kid);
  }

  /**
   * Decrypts one SFrame ciphertext with the metadata the sender authenticated (section 4.4.4)
   * and returns the plaintext. ciphertext is untrusted; failures throw MalformedError,
   * UnknownKeyError, ReplayError or AuthError. Only an authentic frame moves a window or ratchet.
   */
  decrypt(metadata, ciphertext) {
    if (!(metadata instanceof Uint8Array) || !(ciphertext instanceof Uint8Array)) return Promise.reject(new TypeError('sframe: decrypt: metadata and ciphertext must be Uint8Arrays'));
    // Fast path: the current key of a known KID needs no serializing (its replay window is
    // checked again after the await, so concurrent frames stay safe); anything that may
    // move a ratchet or try several keys goes through the queue.
    const h = this._h;
    const k = this._fastKey(ciphertext, h);
    if (k) return this._open(k, h.ctrHi, h.ctrLo, h.length, metadata, ciphertext);
    return this._serial(() => this._decrypt(metadata, ciphertext));
  }

  /**
   * The key entry that may open ciphertext without the queue (a static key, or a ratchet's
   * current step), its header parsed into h; null for any other frame, malformed ones
   * included. With _open, the fast path of decrypt, which the media profile shares.
   */
  _fastKey(ciphertext, h) {
    try {
      readHeader(ciphertext, h);
    } catch {
      return null; // the queued path reports it
    }
    const k = this._keys.get(toBig(h.kidHi, h.kidLo));
    return k && (!k.chain || k === k.chain.cur) ? k : null;
  }

  async _decrypt(metadata, ciphertext) {
    const h = readHeader(ciphertext, {});
    const kid = toBig(h.kidHi, h.kidLo);
    const k = this._keys.get(kid);
    let keyErr = new UnknownKeyError();
    if (k) {
      try {
        return await this._open(k, h.ctrHi, h.ctrLo, h.length, metadata, ciphertext);
      } catch (e) {
        if (e instanceof MalformedError || !k.chain || k === k.chain.cur) throw e;
        keyErr = e; // a retained older step failed: it may be the first frame of a later step
      }
    }
    const c = this._chainFor(kid);
    if (!c) throw keyErr;
    try {
      return await this._ratchetOpen(c, kid, h, metadata, ciphertext);
    } catch (e) {
      throw k ? keyErr : e;
    }
  }

  // Opens ciphertext, whose header (hl bytes) holds CTR (hi, lo), with entry k: a promise of
  // the plaintext, the replay window checked before and after. With lead, the result is
  // lead || plaintext (the media profile's frame), laid out while WebCrypto decrypts.
  _open(k, hi, lo, hl, metadata, ciphertext, lead = null) {
    const key = k.key;
    if (ciphertext.length - hl < key.nt) return Promise.reject(new MalformedError('sframe: decrypt: ciphertext shorter than its tag'));
    if (!k.window.checkParts(hi, lo)) return Promise.reject(new ReplayError());
    const opening = key.open(hi, lo, key.openAAD(ciphertext, hl, metadata), ciphertext.subarray(hl));
    let out = null;
    if (lead) {
      out = new Uint8Array(lead.length + ciphertext.length - hl - key.nt);
      out.set(lead);
    }
    return opening.then((pt) => {
      // Checked again: another frame may have been accepted meanwhile.
      if (!k.window.checkParts(hi, lo)) throw new ReplayError();
      k.window.acceptParts(hi, lo);
      if (k.chain && k === k.chain.cur) this._dropStalePrev(k.chain);
      if (!out) return bytes(pt);
      out.set(bytes(pt), lead.length);
      return out;
    }, authFailed);
  }

  _dropStalePrev(c) {
    if (c.prev && c.cur.window.reached(REPLAY_WINDOW)) {
      this._keys.delete(c.prev.key.kid);
      c.prev = null;
    }
  }

  async _ratchetOpen(c, kid, h, metadata, ciphertext) {
    const steps = (kid - c.cur.key.kid) & c.mask;
    if (steps === 0n || steps > BigInt(this.maxRatchetSteps)) throw new UnknownKeyError();
    let base = c.base;
    for (let i = 0n; i < steps; i++) {
      const next = await ratchetBaseKey(c.suite, base);
      if (i > 0n) base.fill(0);
      base = next;
    }
    const rk = { key: await Key.create(c.suite, kid, base), window: new ReplayWindow(), chain: c };
    let pt;
    try {
      pt = await this._open(rk, h.ctrHi, h.ctrLo, h.length, metadata, ciphertext);
    } catch (e) {
      base.fill(0);
      throw e;
    }
    if (c.prev) this._keys.delete(c.prev.key.kid);
    c.prev = c.cur;
    c.cur = rk;
    c.base.fill(0);
    c.base = base;
    this._keys.set(kid, rk);
    this._dropStalePrev(c);
    return pt;
  }
}

export const _internal = { concat, u64bytes, u16bytes, Key, readHeader, toBig, bytes };

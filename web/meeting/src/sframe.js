// SFrame (RFC 9605) on WebCrypto, for the browser meeting client: the header of section 4.3,
// the key derivation of section 4.4.2, the five cipher suites of section 4.5 (AES-GCM and
// AES-CTR + HMAC-SHA256, section 4.5.1), the sender keys and ratchet of section 5.1 and a
// sliding replay window (section 9.3). It mirrors the Go package crypto/sframe; both pass the
// RFC's test vectors.
//
// KIDs and CTRs are BigInts (they are 64-bit). Every operation that touches keys is async,
// because WebCrypto is. A Sender takes its CTR synchronously, before any await, so concurrent
// encrypts never share a counter; a Receiver serializes its operations.

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

function parseField(b, off, nibble, what) {
  if ((nibble & 0x08) === 0) return [BigInt(nibble & 7), off];
  const n = (nibble & 7) + 1;
  if (b.length - off < n) throw new MalformedError(`sframe: parse header: ${what} truncated`);
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(b[off + i]);
  if (fieldLen(v) !== n) throw new MalformedError(`sframe: parse header: ${what} not minimally encoded`);
  return [v, off + n];
}

/**
 * Parses the header at the start of b: {kid, ctr, length}. b is untrusted: a truncated or
 * non-minimal header throws MalformedError.
 */
export function parseHeader(b) {
  if (b.length === 0) throw new MalformedError('sframe: parse header: empty input');
  const cfg = b[0];
  if ((cfg & 0x88) === 0) return { kid: BigInt(cfg >> 4), ctr: BigInt(cfg & 7), length: 1 };
  const [kid, n1] = parseField(b, 1, cfg >> 4, 'KID');
  const [ctr, n2] = parseField(b, n1, cfg & 0x0f, 'CTR');
  return { kid, ctr, length: n2 };
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

/** The encryption state of one KID: its AEAD keys, imported once, and its salt. */
class Key {
  static async create(suite, kid, baseKey) {
    const p = suiteParams(suite);
    const { key, salt } = await deriveKeySalt(suite, kid, baseKey);
    const k = new Key();
    k.suite = suite;
    k.kid = kid;
    k.nt = p.nt;
    k.salt = salt;
    // Per-frame work without BigInt: the KID's header bytes, and the salt's low 64 bits as
    // two 32-bit halves for the nonce (precomputed once per KID).
    const kh = encodeHeader(kid, 0n);
    k.kidCfg = kh[0] & 0xf0;
    k.kidBytes = kh.subarray(1);
    const sv = new DataView(salt.buffer, salt.byteOffset, salt.byteLength);
    k.saltHi = sv.getUint32(4);
    k.saltLo = sv.getUint32(8);
    if (p.nka > 0) {
      // derive_subkeys of section 4.5.1: the AES key, then the HMAC key.
      k.ctrKey = await subtle.importKey('raw', key.subarray(0, p.nka), 'AES-CTR', false, ['encrypt']);
      k.macKey = await subtle.importKey('raw', key.subarray(p.nka), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    } else {
      k.gcmKey = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
    }
    key.fill(0);
    return k;
  }

  // The nonce of section 4.4.3: salt XOR CTR, the CTR as a 12-byte big-endian integer.
  nonce(ctr) {
    const n = this.salt.slice();
    const v = new DataView(n.buffer);
    if (ctr <= 0xffffffffn) {
      v.setUint32(8, (this.saltLo ^ Number(ctr)) >>> 0);
      return n;
    }
    v.setBigUint64(4, v.getBigUint64(4) ^ ctr);
    return n;
  }

  /** The header of this KID's frame ctr: encodeHeader(kid, ctr), from the cached KID bytes. */
  header(ctr) {
    if (ctr > 0xffffffffn) return encodeHeader(this.kid, ctr);
    const c = Number(ctr);
    const kl = this.kidBytes.length;
    const cl = c < 8 ? 0 : c < 0x100 ? 1 : c < 0x10000 ? 2 : c < 0x1000000 ? 3 : 4;
    const out = new Uint8Array(1 + kl + cl);
    out[0] = this.kidCfg | (cl === 0 ? c : 0x08 | (cl - 1));
    out.set(this.kidBytes, 1);
    for (let i = 0; i < cl; i++) out[1 + kl + i] = (c >>> (8 * (cl - 1 - i))) & 0xff;
    return out;
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

  // AEAD.Encrypt: ciphertext || tag.
  async seal(ctr, aad, plaintext) {
    const nonce = this.nonce(ctr);
    if (this.gcmKey) {
      return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, this.gcmKey, plaintext));
    }
    const ct = new Uint8Array(await this.ctr(nonce, plaintext));
    return concat(ct, await this.tag(nonce, aad, ct));
  }

  // AEAD.Decrypt; throws AuthError.
  async open(ctr, aad, body) {
    const nonce = this.nonce(ctr);
    if (this.gcmKey) {
      try {
        return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, this.gcmKey, body));
      } catch {
        throw new AuthError();
      }
    }
    const ct = body.subarray(0, body.length - this.nt);
    const want = await this.tag(nonce, aad, ct);
    if (!timingSafeEqual(want, body.subarray(body.length - this.nt))) throw new AuthError();
    return new Uint8Array(await this.ctr(nonce, ct));
  }
}

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
    s._next = 0n;
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
    return this._next;
  }

  /** Makes next the CTR of the next frame; it only moves forward. */
  advanceCounter(next) {
    next = toU64(next, 'CTR');
    if (this._exhausted) throw new CounterExhaustedError();
    if (next < this._next) throw new RangeError(`sframe: advance counter to ${next}: below the next counter ${this._next}, which would reuse nonces`);
    this._next = next;
  }

  /**
   * Encrypts plaintext as one SFrame ciphertext, header || AEAD.Encrypt(key, nonce, header ||
   * metadata, plaintext) (section 4.4.3). metadata is authenticated but not sent.
   */
  async encrypt(metadata, plaintext) {
    const { header, sealed } = await this.encryptParts(metadata, plaintext);
    return concat(header, sealed);
  }

  /**
   * encrypt, returning the header and the AEAD output apart ({header, sealed}), so that a
   * caller that prepends more (the media profile's clear prefix) copies the frame once.
   */
  async encryptParts(metadata, plaintext) {
    if (this._exhausted) throw new CounterExhaustedError();
    // Taken before any await: concurrent calls get distinct counters, and keys.
    const key = this._key;
    const ctr = this._next;
    if (ctr === U64_MAX) this._exhausted = true;
    else this._next = ctr + 1n;
    const header = key.header(ctr);
    const sealed = await key.seal(ctr, metadata.length ? concat(header, metadata) : header, plaintext);
    return { header, sealed };
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
      this._next = 0n;
      this._exhausted = false;
    };
    this._ratcheting = this._ratcheting.then(run, run);
    return this._ratcheting;
  }
}

// ---- Replay window (section 9.3) ----

const WINDOW_MASK = (1n << BigInt(REPLAY_WINDOW)) - 1n;

/** A sliding window over CTRs, in the manner of RFC 3711 section 3.3.2. */
export class ReplayWindow {
  constructor() { this.any = false; this.top = 0n; this.seen = 0n; }

  /** Whether ctr may be accepted: newer than the top, or in the window and unseen. */
  check(ctr) {
    if (!this.any || ctr > this.top) return true;
    const d = this.top - ctr;
    if (d >= BigInt(REPLAY_WINDOW)) return false;
    return ((this.seen >> d) & 1n) === 0n;
  }

  /** Records ctr, which check allowed and which authenticated. */
  accept(ctr) {
    if (!this.any) {
      this.any = true; this.top = ctr; this.seen = 1n;
    } else if (ctr > this.top) {
      const s = ctr - this.top;
      this.seen = s >= BigInt(REPLAY_WINDOW) ? 1n : ((this.seen << s) & WINDOW_MASK) | 1n;
      this.top = ctr;
    } else {
      this.seen |= 1n << (this.top - ctr);
    }
  }
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
    // Fast path: the current key of a known KID needs no serializing (its replay window is
    // checked again after the await, so concurrent frames stay safe); anything that may
    // move a ratchet or try several keys goes through the queue.
    let h = null;
    try { h = parseHeader(ciphertext); } catch { /* the queued path reports it */ }
    const k = h && this._keys.get(h.kid);
    if (k && (!k.chain || k === k.chain.cur)) {
      const hdr = ciphertext.subarray(0, h.length);
      return this._open(k, h.ctr, ciphertext.subarray(h.length), metadata.length ? concat(hdr, metadata) : hdr);
    }
    return this._serial(() => this._decrypt(metadata, ciphertext));
  }

  async _decrypt(metadata, ciphertext) {
    const h = parseHeader(ciphertext);
    const hdr = ciphertext.subarray(0, h.length);
    const body = ciphertext.subarray(h.length);
    const aad = metadata.length ? concat(hdr, metadata) : hdr;
    const k = this._keys.get(h.kid);
    let keyErr = new UnknownKeyError();
    if (k) {
      try {
        return await this._open(k, h.ctr, body, aad);
      } catch (e) {
        if (e instanceof MalformedError || !k.chain || k === k.chain.cur) throw e;
        keyErr = e; // a retained older step failed: it may be the first frame of a later step
      }
    }
    const c = this._chainFor(h.kid);
    if (!c) throw keyErr;
    try {
      return await this._ratchetOpen(c, h, body, aad);
    } catch (e) {
      throw k ? keyErr : e;
    }
  }

  async _open(k, ctr, body, aad) {
    if (body.length < k.key.nt) throw new MalformedError('sframe: decrypt: ciphertext shorter than its tag');
    if (!k.window.check(ctr)) throw new ReplayError();
    const pt = await k.key.open(ctr, aad, body);
    // Checked again: another frame may have been accepted meanwhile.
    if (!k.window.check(ctr)) throw new ReplayError();
    k.window.accept(ctr);
    if (k.chain && k === k.chain.cur) this._dropStalePrev(k.chain);
    return pt;
  }

  _dropStalePrev(c) {
    if (c.prev && c.cur.window.top >= BigInt(REPLAY_WINDOW)) {
      this._keys.delete(c.prev.key.kid);
      c.prev = null;
    }
  }

  async _ratchetOpen(c, h, body, aad) {
    const steps = (h.kid - c.cur.key.kid) & c.mask;
    if (steps === 0n || steps > BigInt(this.maxRatchetSteps)) throw new UnknownKeyError();
    let base = c.base;
    for (let i = 0n; i < steps; i++) {
      const next = await ratchetBaseKey(c.suite, base);
      if (i > 0n) base.fill(0);
      base = next;
    }
    const rk = { key: await Key.create(c.suite, h.kid, base), window: new ReplayWindow(), chain: c };
    let pt;
    try {
      pt = await this._open(rk, h.ctr, body, aad);
    } catch (e) {
      base.fill(0);
      throw e;
    }
    if (c.prev) this._keys.delete(c.prev.key.kid);
    c.prev = c.cur;
    c.cur = rk;
    c.base.fill(0);
    c.base = base;
    this._keys.set(h.kid, rk);
    this._dropStalePrev(c);
    return pt;
  }
}

export const _internal = { concat, u64bytes, u16bytes, Key };

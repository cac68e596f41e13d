// src/sframe.js
var subtle = globalThis.crypto.subtle;
var Suite = Object.freeze({
  AES_128_CTR_HMAC_SHA256_80: 1,
  AES_128_CTR_HMAC_SHA256_64: 2,
  AES_128_CTR_HMAC_SHA256_32: 3,
  AES_128_GCM_SHA256_128: 4,
  AES_256_GCM_SHA512_128: 5
});
var DEFAULT_SUITE = Suite.AES_256_GCM_SHA512_128;
var MAX_HEADER_LEN = 17;
var REPLAY_WINDOW = 128;
var NONCE_SIZE = 12;
var MIN_BASE_KEY_LEN = 16;
var U64_MAX = (1n << 64n) - 1n;
var SUITES = {
  1: { name: "AES_128_CTR_HMAC_SHA256_80", hash: "SHA-256", nh: 32, nka: 16, nk: 48, nt: 10 },
  2: { name: "AES_128_CTR_HMAC_SHA256_64", hash: "SHA-256", nh: 32, nka: 16, nk: 48, nt: 8 },
  3: { name: "AES_128_CTR_HMAC_SHA256_32", hash: "SHA-256", nh: 32, nka: 16, nk: 48, nt: 4 },
  4: { name: "AES_128_GCM_SHA256_128", hash: "SHA-256", nh: 32, nka: 0, nk: 16, nt: 16 },
  5: { name: "AES_256_GCM_SHA512_128", hash: "SHA-512", nh: 64, nka: 0, nk: 32, nt: 16 }
};
function sframeError(name, message) {
  const e = new Error(message);
  e.name = name;
  return e;
}
var MalformedError = class extends Error {
  constructor(message) {
    super(message);
    this.name = "MalformedError";
  }
};
var UnknownKeyError = class extends Error {
  constructor(message = "sframe: decrypt: no key for the frame's KID") {
    super(message);
    this.name = "UnknownKeyError";
  }
};
var AuthError = class extends Error {
  constructor(message = "sframe: decrypt: authentication failed") {
    super(message);
    this.name = "AuthError";
  }
};
var ReplayError = class extends Error {
  constructor(message = "sframe: decrypt: replayed or too old counter") {
    super(message);
    this.name = "ReplayError";
  }
};
var CounterExhaustedError = class extends Error {
  constructor(message = "sframe: encrypt: counter exhausted for this key; ratchet or install a new key") {
    super(message);
    this.name = "CounterExhaustedError";
  }
};
function suiteParams(suite) {
  const p = SUITES[suite];
  if (!p) throw sframeError("UnsupportedSuiteError", `sframe: suite ${suite}: not an RFC 9605 cipher suite (1 to 5)`);
  return p;
}
function overhead(suite) {
  return suiteParams(suite).nt;
}
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
var TWO_32 = 4294967296;
function toBig(hi, lo) {
  return hi === 0 ? BigInt(lo) : BigInt(hi) << 32n | BigInt(lo);
}
function hiOf(v) {
  return Number(v >> 32n);
}
function loOf(v) {
  return Number(v & 0xffffffffn);
}
function fieldLen(v) {
  if (v < 8n) return 0;
  let n = 0;
  for (; v > 0n; v >>= 8n) n++;
  return n;
}
function encodeHeader(kid, ctr) {
  kid = toU64(kid, "KID");
  ctr = toU64(ctr, "CTR");
  const kl = fieldLen(kid);
  const cl = fieldLen(ctr);
  const out = new Uint8Array(1 + kl + cl);
  let cfg = kl === 0 ? Number(kid) << 4 : 128 | kl - 1 << 4;
  cfg |= cl === 0 ? Number(ctr) : 8 | cl - 1;
  out[0] = cfg;
  for (let i = 0; i < kl; i++) out[1 + i] = Number(kid >> BigInt(8 * (kl - 1 - i)) & 0xffn);
  for (let i = 0; i < cl; i++) out[1 + kl + i] = Number(ctr >> BigInt(8 * (cl - 1 - i)) & 0xffn);
  return out;
}
function readField(b, off, nibble, what, h, hiName, loName) {
  let hi = 0;
  let lo = nibble & 7;
  if ((nibble & 8) !== 0) {
    const n = (nibble & 7) + 1;
    if (b.length - off < n) throw new MalformedError(`sframe: parse header: ${what} truncated`);
    if (b[off] === 0 || n === 1 && b[off] < 8) throw new MalformedError(`sframe: parse header: ${what} not minimally encoded`);
    lo = 0;
    for (let i = 0; i < n; i++) {
      hi = (hi << 8 | lo >>> 24) >>> 0;
      lo = (lo << 8 | b[off + i]) >>> 0;
    }
    off += n;
  }
  h[hiName] = hi;
  h[loName] = lo;
  return off;
}
function readHeader(b, h) {
  if (b.length === 0) throw new MalformedError("sframe: parse header: empty input");
  const cfg = b[0];
  const off = readField(b, 1, cfg >> 4, "KID", h, "kidHi", "kidLo");
  h.length = readField(b, off, cfg & 15, "CTR", h, "ctrHi", "ctrLo");
  return h;
}
function parseHeader(b) {
  const h = readHeader(b, {});
  return { kid: toBig(h.kidHi, h.kidLo), ctr: toBig(h.ctrHi, h.ctrLo), length: h.length };
}
function ctrFieldLen(hi, lo) {
  if (hi === 0) return lo < 8 ? 0 : lo < 256 ? 1 : lo < 65536 ? 2 : lo < 16777216 ? 3 : 4;
  return hi < 256 ? 5 : hi < 65536 ? 6 : hi < 16777216 ? 7 : 8;
}
var enc = new TextEncoder();
function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
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
async function hkdf(hash, ikm, salt, info, length) {
  const key = ikm instanceof Uint8Array ? await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]) : ikm;
  const bits = await subtle.deriveBits({ name: "HKDF", hash, salt, info }, key, length * 8);
  return new Uint8Array(bits);
}
var EMPTY = new Uint8Array(0);
function label(prefix, kid, suite) {
  return concat(enc.encode(prefix), u64bytes(kid), u16bytes(suite));
}
async function deriveKeySalt(suite, kid, baseKey) {
  const p = suiteParams(suite);
  const key = await hkdf(p.hash, baseKey, EMPTY, label("SFrame 1.0 Secret key ", kid, suite), p.nk);
  const salt = await hkdf(p.hash, baseKey, EMPTY, label("SFrame 1.0 Secret salt ", kid, suite), NONCE_SIZE);
  return { key, salt };
}
async function ratchetBaseKey(suite, baseKey) {
  const p = suiteParams(suite);
  return hkdf(p.hash, baseKey, EMPTY, enc.encode("SFrame 1.0 Ratchet"), p.nh);
}
function timingSafeEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
var AAD_SCRATCH = 64;
var Key = class _Key {
  static async create(suite, kid, baseKey) {
    const p = suiteParams(suite);
    const { key, salt } = await deriveKeySalt(suite, kid, baseKey);
    const k = new _Key();
    k.suite = suite;
    k.kid = kid;
    k.nt = p.nt;
    k.salt = salt;
    const kh = encodeHeader(kid, 0n);
    k.kidCfg = kh[0] & 240;
    k.kidBytes = kh.slice(1);
    const sv = new DataView(salt.buffer, salt.byteOffset, salt.byteLength);
    k.saltHi = sv.getUint32(4);
    k.saltLo = sv.getUint32(8);
    k.gcmKey = null;
    if (p.nka > 0) {
      k.ctrKey = await subtle.importKey("raw", key.subarray(0, p.nka), "AES-CTR", false, ["encrypt"]);
      k.macKey = await subtle.importKey("raw", key.subarray(p.nka), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    } else {
      k.gcmKey = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
      k.iv = new Uint8Array(new ArrayBuffer(NONCE_SIZE));
      k.iv.set(salt);
      k.ivView = new DataView(k.iv.buffer);
      k.aadBuf = new Uint8Array(new ArrayBuffer(AAD_SCRATCH));
      k.params = { name: "AES-GCM", iv: k.iv, additionalData: k.aadBuf, tagLength: 128 };
    }
    key.fill(0);
    return k;
  }
  /** The length of the header of this KID's frame (hi, lo). */
  headerLen(hi, lo) {
    return 1 + this.kidBytes.length + ctrFieldLen(hi, lo);
  }
  /** Writes the header of this KID's frame (hi, lo), encodeHeader(kid, ctr), at out[o]. */
  writeHeader(out, o, hi, lo) {
    const kb = this.kidBytes;
    const cl = ctrFieldLen(hi, lo);
    out[o++] = this.kidCfg | (cl === 0 ? lo : 8 | cl - 1);
    for (let i = 0; i < kb.length; i++) out[o++] = kb[i];
    for (let b = cl - 1; b >= 4; b--) out[o++] = hi >>> 8 * (b - 4) & 255;
    for (let b = Math.min(cl, 4) - 1; b >= 0; b--) out[o++] = lo >>> 8 * b & 255;
  }
  // A buffer for an AAD of n bytes: the key's own (GCM), or a new one.
  aadBuffer(n) {
    return this.gcmKey && n <= AAD_SCRATCH ? this.aadBuf : new Uint8Array(n);
  }
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
    const mac = await subtle.sign("HMAC", this.macKey, concat(lens, nonce, aad, ct));
    return new Uint8Array(mac, 0, this.nt);
  }
  ctr(nonce, data) {
    const counter = concat(nonce, new Uint8Array(4));
    return subtle.encrypt({ name: "AES-CTR", counter, length: 64 }, this.ctrKey, data);
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
};
function bytes(b) {
  return b instanceof Uint8Array ? b : new Uint8Array(b);
}
function authFailed(e) {
  throw e instanceof AuthError ? e : new AuthError();
}
function ratchetMask(bits) {
  return (1n << BigInt(bits)) - 1n;
}
function checkRatchetBits(bits) {
  if (!Number.isInteger(bits) || bits < 1 || bits > 64) throw new RangeError(`sframe: ratchet bits ${bits} out of range: want 1 to 64`);
}
var Sender = class _Sender {
  /**
   * Returns a Sender for kid with baseKey. With ratchetBits (R, 1 to 64) it is a sender of
   * section 5.1: the low R bits of kid are its ratchet step.
   */
  static async create(suite, kid, baseKey, { ratchetBits = 0 } = {}) {
    checkKey("new sender", suite, baseKey);
    if (ratchetBits) checkRatchetBits(ratchetBits);
    const s = new _Sender();
    s.suite = suite;
    s._kid = toU64(kid, "KID");
    s._key = await Key.create(suite, s._kid, baseKey);
    s._hi = 0;
    s._lo = 0;
    s._exhausted = false;
    s._bits = ratchetBits;
    s._base = ratchetBits ? baseKey.slice() : null;
    s._ratcheting = Promise.resolve();
    return s;
  }
  /** The KID of the next frame. */
  get kid() {
    return this._kid;
  }
  /** The CTR of the next frame. */
  get nextCounter() {
    if (this._exhausted) throw new CounterExhaustedError();
    return toBig(this._hi, this._lo);
  }
  /** Makes next the CTR of the next frame; it only moves forward. */
  advanceCounter(next) {
    next = toU64(next, "CTR");
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
  encrypt(metadata, plaintext) {
    return this._seal(metadata, plaintext, EMPTY);
  }
  /**
   * encrypt, returning metadata || ciphertext: for a caller that sends the metadata in clear
   * before the frame (the media profile's codec prefix), with one copy of the frame.
   */
  encryptAfterMetadata(metadata, plaintext) {
    return this._seal(metadata, plaintext, metadata);
  }
  // A promise of lead || header || AEAD.Encrypt(...), written into one buffer.
  _seal(metadata, plaintext, lead) {
    if (!(metadata instanceof Uint8Array) || !(plaintext instanceof Uint8Array)) return Promise.reject(new TypeError("sframe: encrypt: metadata and plaintext must be Uint8Arrays"));
    if (this._exhausted) return Promise.reject(new CounterExhaustedError());
    const key = this._key;
    const hi = this._hi;
    const lo = this._lo;
    if (lo !== 4294967295) this._lo = lo + 1;
    else if (hi !== 4294967295) {
      this._hi = hi + 1;
      this._lo = 0;
    } else this._exhausted = true;
    const hl = key.headerLen(hi, lo);
    const sealing = key.seal(hi, lo, key.sealAAD(hi, lo, hl, metadata), plaintext);
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
      const kid = this._kid & ~mask | this._kid + 1n & mask;
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
};
var ReplayWindow = class {
  constructor() {
    this.any = false;
    this.topHi = 0;
    this.topLo = 0;
    this.seen = new Uint8Array(REPLAY_WINDOW);
  }
  /** The highest CTR accepted (0n before any). */
  get top() {
    return toBig(this.topHi, this.topLo);
  }
  /** Whether ctr may be accepted: newer than the top, or in the window and unseen. */
  check(ctr) {
    return this.checkParts(hiOf(ctr), loOf(ctr));
  }
  /** Records ctr, which check allowed and which authenticated. */
  accept(ctr) {
    this.acceptParts(hiOf(ctr), loOf(ctr));
  }
  // top - ctr: exact below 2^53, and any larger distance stays larger than the window.
  _below(hi, lo) {
    return (this.topHi - hi) * TWO_32 + (this.topLo - lo);
  }
  checkParts(hi, lo) {
    if (!this.any) return true;
    const d = this._below(hi, lo);
    if (d < 0) return true;
    return d < REPLAY_WINDOW && this.seen[lo & REPLAY_WINDOW - 1] === 0;
  }
  acceptParts(hi, lo) {
    const up = this.any ? -this._below(hi, lo) : REPLAY_WINDOW;
    if (up >= REPLAY_WINDOW) {
      this.seen.fill(0);
    } else {
      for (let i = 1; i <= up; i++) this.seen[this.topLo + i & REPLAY_WINDOW - 1] = 0;
    }
    if (up > 0) {
      this.any = true;
      this.topHi = hi;
      this.topLo = lo;
    }
    this.seen[lo & REPLAY_WINDOW - 1] = 1;
  }
  /** Whether the top has reached n (a number). */
  reached(n) {
    return this.any && (this.topHi > 0 || this.topLo >= n);
  }
};
var Receiver = class {
  /**
   * maxRatchetSteps bounds how far one frame may move a ratchet (each step is an HKDF done
   * before the frame is known to be authentic); default 16.
   */
  constructor({ maxRatchetSteps = 16 } = {}) {
    this.maxRatchetSteps = maxRatchetSteps;
    this._keys = /* @__PURE__ */ new Map();
    this._chains = [];
    this._lock = Promise.resolve();
    this._h = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 };
  }
  _serial(fn) {
    const p = this._lock.then(fn, fn);
    this._lock = p.then(() => {
    }, () => {
    });
    return p;
  }
  _covered(kid) {
    return this._keys.has(kid) || this._chainFor(kid) !== null;
  }
  _chainFor(kid) {
    for (const c of this._chains) if ((kid & ~c.mask) === c.gen) return c;
    return null;
  }
  /** Adds a decryption key for kid. Throws DuplicateKIDError if kid is covered. */
  addKey(suite, kid, baseKey) {
    checkKey("add key", suite, baseKey);
    kid = toU64(kid, "KID");
    return this._serial(async () => {
      if (this._covered(kid)) throw sframeError("DuplicateKIDError", `sframe: add key for KID ${kid}: KID already has a key; remove it first`);
      this._keys.set(kid, { key: await Key.create(suite, kid, baseKey), window: new ReplayWindow(), chain: null });
    });
  }
  /** Adds a section 5.1 sender at its current kid (step in the low ratchetBits bits) and base key. */
  addRatchetKey(suite, kid, ratchetBits, baseKey) {
    checkRatchetBits(ratchetBits);
    checkKey("add ratchet key", suite, baseKey);
    kid = toU64(kid, "KID");
    return this._serial(async () => {
      const mask = ratchetMask(ratchetBits);
      const c = { suite, mask, gen: kid & ~mask, base: baseKey.slice(), cur: null, prev: null };
      for (const o of this._chains) {
        if ((c.gen & ~o.mask) === o.gen || (o.gen & ~c.mask) === c.gen) {
          throw sframeError("DuplicateKIDError", `sframe: add ratchet key for KID ${kid}: generation overlaps the ratchet of KID ${o.cur.kid}`);
        }
      }
      for (const k of this._keys.keys()) {
        if ((k & ~mask) === c.gen) throw sframeError("DuplicateKIDError", `sframe: add ratchet key for KID ${kid}: generation covers KID ${k}`);
      }
      const rk = { key: await Key.create(suite, kid, baseKey), window: new ReplayWindow(), chain: c };
      c.cur = rk;
      this._chains.push(c);
      this._keys.set(kid, rk);
    });
  }
  /** Forgets kid's key, or the whole ratchet kid belongs to. */
  removeKey(kid) {
    kid = toU64(kid, "KID");
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
    if (!(metadata instanceof Uint8Array) || !(ciphertext instanceof Uint8Array)) return Promise.reject(new TypeError("sframe: decrypt: metadata and ciphertext must be Uint8Arrays"));
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
      return null;
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
        keyErr = e;
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
    if (ciphertext.length - hl < key.nt) return Promise.reject(new MalformedError("sframe: decrypt: ciphertext shorter than its tag"));
    if (!k.window.checkParts(hi, lo)) return Promise.reject(new ReplayError());
    const opening = key.open(hi, lo, key.openAAD(ciphertext, hl, metadata), ciphertext.subarray(hl));
    let out = null;
    if (lead) {
      out = new Uint8Array(lead.length + ciphertext.length - hl - key.nt);
      out.set(lead);
    }
    return opening.then((pt) => {
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
    const steps = kid - c.cur.key.kid & c.mask;
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
};
var _internal = { concat, u64bytes, u16bytes, Key, readHeader, toBig, bytes };

// src/profile.js
var { concat: concat2, u64bytes: u64bytes2, u16bytes: u16bytes2, toBig: toBig2, bytes: bytes2 } = _internal;
var Codec = Object.freeze({ NONE: "none", VP8: "vp8", OPUS: "opus" });
var ShortFrameError = class extends Error {
  constructor() {
    super("mediaprofile: frame shorter than its codec's clear prefix");
    this.name = "ShortFrameError";
  }
};
var TooManySendersError = class extends Error {
  constructor() {
    super("mediaprofile: open: too many sending sessions in the epoch");
    this.name = "TooManySendersError";
  }
};
var RATCHET_BITS = 8;
var STEP_MASK = 0xffn;
var SESSION_MASK = (1n << 48n) - 1n;
var MAX_STEP = 255;
function makeKID(epoch, session, step) {
  return (BigInt(epoch) & 0xffn) << 56n | (BigInt(session) & SESSION_MASK) << 8n | BigInt(step) & STEP_MASK;
}
function splitKID(kid) {
  return { epochBits: Number(kid >> 56n), session: kid >> 8n & SESSION_MASK, step: Number(kid & STEP_MASK) };
}
function prefixLen(codec, frame) {
  let n;
  switch (codec) {
    case Codec.NONE:
      return 0;
    case Codec.VP8:
      if (frame.length === 0) throw new ShortFrameError();
      n = (frame[0] & 1) === 0 ? 10 : 3;
      break;
    case Codec.OPUS:
      n = 1;
      break;
    default:
      throw new TypeError(`mediaprofile: unknown codec ${JSON.stringify(codec)}: want none, vp8 or opus`);
  }
  if (frame.length < n) throw new ShortFrameError();
  return n;
}
var enc2 = new TextEncoder();
var EXTRACT_SALT = enc2.encode("Geofence media 1.0");
var SENDER_LABEL = enc2.encode("Geofence media 1.0 sender ");
async function senderBaseKey(suite, epoch, epochKey, kid) {
  const p = suiteParams(suite);
  if (epochKey instanceof Uint8Array && epochKey.length < 16) throw new RangeError("mediaprofile: sender key: epoch key shorter than 16 bytes");
  const info = concat2(SENDER_LABEL, u16bytes2(suite), u64bytes2(BigInt(epoch)), u64bytes2(BigInt(kid) & ~STEP_MASK));
  return hkdf(p.hash, epochKey, EXTRACT_SALT, info, p.nh);
}
function randomSession() {
  const b = new Uint8Array(8);
  globalThis.crypto.getRandomValues(b.subarray(2));
  return new DataView(b.buffer).getBigUint64(0);
}
var ProfileSender = class _ProfileSender {
  /** options: suite (default AES_256_GCM_SHA512_128), session (a 48-bit BigInt, for tests; default random). */
  static async create(epochKey, { suite = DEFAULT_SUITE, session } = {}) {
    const s = new _ProfileSender();
    s.suite = suite;
    s._lock = Promise.resolve();
    await s._start(epochKey, session);
    return s;
  }
  async _start(epochKey, session) {
    const epoch = BigInt(epochKey.epoch);
    const kid = makeKID(epoch, session ?? randomSession(), 0);
    const base = await senderBaseKey(this.suite, epoch, epochKey.key, kid);
    const tx = await Sender.create(this.suite, kid, base, { ratchetBits: RATCHET_BITS });
    base.fill(0);
    this.epochKey = epochKey;
    this.epoch = epoch;
    this.tx = tx;
  }
  _serial(fn) {
    const p = this._lock.then(fn, fn);
    this._lock = p.then(() => {
    }, () => {
    });
    return p;
  }
  /** The KID of the next frame. */
  get kid() {
    return this.tx.kid;
  }
  /** At most how much longer a wire frame is than its frame. */
  get overhead() {
    return MAX_HEADER_LEN + overhead(this.suite);
  }
  /** Moves to the epoch of epochKey ({epoch, key}) with a new session. */
  rekey(epochKey) {
    return this._serial(() => this._start(epochKey));
  }
  /** One section 5.1 ratchet step; after step 255, a new session instead. */
  ratchet() {
    return this._serial(async () => {
      if (splitKID(this.tx.kid).step === MAX_STEP) return this._start(this.epochKey);
      return this.tx.ratchet();
    });
  }
  /** Returns a promise of the wire frame of frame (a Uint8Array): prefix || SFrame ciphertext. */
  seal(codec, frame) {
    if (!(frame instanceof Uint8Array)) return Promise.reject(new TypeError("mediaprofile: seal: the frame must be a Uint8Array"));
    let n;
    try {
      n = prefixLen(codec, frame);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.tx.encryptAfterMetadata(frame.subarray(0, n), frame.subarray(n));
  }
};
var ProfileReceiver = class {
  constructor({ suite = DEFAULT_SUITE, maxEpochs = 3, maxSenders = 1024 } = {}) {
    this.suite = suite;
    this.maxEpochs = maxEpochs;
    this.maxSenders = maxSenders;
    this.rx = new Receiver({ maxRatchetSteps: MAX_STEP });
    this._epochs = [];
    this._gens = /* @__PURE__ */ new Set();
    this._lock = Promise.resolve();
    this._h = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 };
  }
  _serial(fn) {
    const p = this._lock.then(fn, fn);
    this._lock = p.then(() => {
    }, () => {
    });
    return p;
  }
  /** The epochs held, oldest first. */
  get epochs() {
    return this._epochs.map((e) => e.epoch);
  }
  /**
   * Adds an epoch key ({epoch, key}); forgets the oldest past maxEpochs and one with the same
   * low 8 bits. Adding a held epoch again replaces nothing.
   */
  addEpoch(epochKey) {
    return this._serial(async () => {
      const epoch = BigInt(epochKey.epoch);
      if (this._epochs.some((e) => e.epoch === epoch)) return;
      const clash = this._epochs.find((e) => (e.epoch & 0xffn) === (epoch & 0xffn));
      if (clash) await this._remove(clash.epoch);
      this._epochs.push({ epoch, key: epochKey.key, gens: /* @__PURE__ */ new Set() });
      this._epochs.sort((a, b) => a.epoch < b.epoch ? -1 : a.epoch > b.epoch ? 1 : 0);
      while (this._epochs.length > this.maxEpochs) await this._remove(this._epochs[0].epoch);
    });
  }
  /** Forgets an epoch and every sender key derived from it. */
  removeEpoch(epoch) {
    return this._serial(() => this._remove(BigInt(epoch)));
  }
  async _remove(epoch) {
    const i = this._epochs.findIndex((e2) => e2.epoch === epoch);
    if (i < 0) return;
    const e = this._epochs[i];
    for (const g of e.gens) {
      this._gens.delete(g);
      await this.rx.removeKey(g);
    }
    this._epochs.splice(i, 1);
  }
  /**
   * Returns the frame of a wire frame (a Uint8Array). wire is untrusted; failures throw
   * MalformedError, UnknownKeyError (no key for the KID's epoch), AuthError (wrong key or
   * altered), ReplayError or TooManySendersError.
   */
  open(codec, wire) {
    if (!(wire instanceof Uint8Array)) return Promise.reject(new TypeError("mediaprofile: open: the wire frame must be a Uint8Array"));
    let n = -1;
    try {
      n = prefixLen(codec, wire);
    } catch {
    }
    if (n >= 0) {
      const rest = wire.subarray(n);
      const h = this._h;
      const k = this.rx._fastKey(rest, h);
      if (k && this._gens.has(toBig2(h.kidHi, (h.kidLo & ~255) >>> 0))) {
        const prefix = wire.subarray(0, n);
        return this.rx._open(k, h.ctrHi, h.ctrLo, h.length, prefix, rest, prefix);
      }
    }
    return this._serial(() => this._open(codec, wire));
  }
  async _open(codec, wire) {
    let n;
    try {
      n = prefixLen(codec, wire);
    } catch (e2) {
      if (e2 instanceof ShortFrameError) throw new MalformedError("mediaprofile: open: wire frame shorter than its prefix");
      throw e2;
    }
    const prefix = wire.subarray(0, n);
    const rest = wire.subarray(n);
    const h = parseHeader(rest);
    const gen = h.kid & ~STEP_MASK;
    const e = this._epochs.find((x) => (x.epoch & 0xffn) === h.kid >> 56n);
    if (!e) throw new UnknownKeyError("mediaprofile: open: no key for the frame's epoch");
    const known = e.gens.has(gen);
    if (!known) {
      if (e.gens.size >= this.maxSenders) throw new TooManySendersError();
      const base = await senderBaseKey(this.suite, e.epoch, e.key, gen);
      await this.rx.addRatchetKey(this.suite, gen, RATCHET_BITS, base);
      base.fill(0);
    }
    let pt;
    try {
      pt = await this.rx.decrypt(prefix, rest);
    } catch (err) {
      if (!known) await this.rx.removeKey(gen);
      throw err;
    }
    if (!known) {
      e.gens.add(gen);
      this._gens.add(gen);
    }
    return withPrefix(prefix, pt);
  }
};
function withPrefix(prefix, pt) {
  const b = bytes2(pt);
  const out = new Uint8Array(prefix.length + b.length);
  out.set(prefix);
  out.set(b, prefix.length);
  return out;
}

// src/worker.js
var FAILURES = { MalformedError: "malformed", UnknownKeyError: "unknownKey", AuthError: "auth", ReplayError: "replay", TooManySendersError: "tooManySenders" };
function codecOf(options, frame) {
  if (options.codec) return options.codec;
  const mime = frame.getMetadata?.().mimeType?.toLowerCase();
  if (mime === "video/vp8") return Codec.VP8;
  if (mime === "audio/opus") return Codec.OPUS;
  return Codec.NONE;
}
function createMediaCrypto({ post, suite = DEFAULT_SUITE } = {}) {
  const receiver = new ProfileReceiver({ suite });
  const epochKeys = /* @__PURE__ */ new Map();
  let sendEpoch = null;
  const transforms = [];
  function report(error) {
    post({ type: "error", message: String(error?.message ?? error) });
  }
  async function onMessage(m) {
    try {
      switch (m?.type) {
        case "epoch": {
          const ek = { epoch: BigInt(m.epoch), key: m.key };
          epochKeys.set(ek.epoch, ek);
          await receiver.addEpoch(ek);
          break;
        }
        case "send": {
          const ek = epochKeys.get(BigInt(m.epoch));
          if (!ek) throw new Error(`media worker: send in epoch ${m.epoch}: no key for it was posted`);
          sendEpoch = ek;
          for (const t of transforms) if (t.sender) await t.sender.rekey(ek);
          break;
        }
        case "remove-epoch":
          epochKeys.delete(BigInt(m.epoch));
          await receiver.removeEpoch(m.epoch);
          break;
        case "ratchet":
          for (const t of transforms) if (t.sender) await t.sender.ratchet();
          break;
        case "keyframe":
          for (const t of transforms) {
            if (t.side === "send" && typeof t.transformer?.generateKeyFrame === "function") {
              t.transformer.generateKeyFrame().catch(() => {
              });
            }
          }
          break;
        case "stats":
          post({ type: "stats", transforms: stats() });
          break;
        case "streams":
          transform(m);
          break;
        default:
          throw new Error(`media worker: unknown message type ${JSON.stringify(m?.type)}`);
      }
    } catch (e) {
      report(e);
    }
  }
  function stats() {
    return transforms.map((t) => ({
      id: t.id,
      side: t.side,
      codec: t.codec,
      frames: t.frames,
      bytes: t.bytes,
      kid: t.sender ? t.sender.kid.toString(16) : void 0,
      dropped: { ...t.dropped },
      failures: { ...t.failures },
      lastFailure: t.lastFailure
    }));
  }
  function sealFrame(t, frame, controller) {
    if (!t.sender) {
      if (!sendEpoch) {
        t.dropped.noKey++;
        return Promise.resolve();
      }
      return ProfileSender.create(sendEpoch, { suite }).then((sender) => {
        t.sender ??= sender;
        return sealFrame(t, frame, controller);
      });
    }
    const codec = codecOf(t.options, frame);
    t.codec = codec;
    return t.sender.seal(codec, new Uint8Array(frame.data)).then((wire) => {
      frame.data = wire.buffer;
      t.frames++;
      t.bytes += wire.byteLength;
      controller.enqueue(frame);
    }, (e) => {
      if (e instanceof ShortFrameError) {
        t.dropped.shortFrame++;
        return;
      }
      throw e;
    });
  }
  function openFrame(t, frame, controller) {
    const data = frame.data;
    if (data.byteLength === 0) {
      t.dropped.empty++;
      return Promise.resolve();
    }
    const codec = codecOf(t.options, frame);
    t.codec = codec;
    return receiver.open(codec, new Uint8Array(data)).then((pt) => {
      frame.data = pt.buffer;
      t.frames++;
      t.bytes += pt.byteLength;
      controller.enqueue(frame);
    }, (e) => {
      const kind = FAILURES[e?.name] ?? "other";
      t.failures[kind]++;
      t.lastFailure = { kind, bytes: data.byteLength, message: String(e?.message ?? e) };
    });
  }
  function transform(transformer) {
    const options = transformer.options ?? {};
    const t = {
      id: options.id ?? String(transforms.length),
      side: options.side === "send" ? "send" : "receive",
      options,
      codec: options.codec,
      sender: null,
      transformer,
      frames: 0,
      bytes: 0,
      dropped: { noKey: 0, shortFrame: 0, empty: 0 },
      failures: { malformed: 0, unknownKey: 0, auth: 0, replay: 0, tooManySenders: 0, other: 0 }
    };
    transforms.push(t);
    const step = t.side === "send" ? sealFrame : openFrame;
    const done = transformer.readable.pipeThrough(new TransformStream({
      transform: (frame, controller) => step(t, frame, controller).catch((e) => {
        t.dropped.error = (t.dropped.error ?? 0) + 1;
        report(e);
      })
    })).pipeTo(transformer.writable).catch(report);
    return done;
  }
  return { onMessage, transform, stats };
}
function install(scope, { statsInterval = 1e3 } = {}) {
  const core = createMediaCrypto({ post: (m) => scope.postMessage(m) });
  scope.onmessage = (e) => core.onMessage(e.data);
  scope.onrtctransform = (e) => core.transform(e.transformer);
  if (statsInterval > 0) setInterval(() => scope.postMessage({ type: "stats", transforms: core.stats() }), statsInterval);
  return core;
}
if (typeof WorkerGlobalScope !== "undefined" && globalThis instanceof WorkerGlobalScope) install(globalThis);
export {
  createMediaCrypto,
  install
};

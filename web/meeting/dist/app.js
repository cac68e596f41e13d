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
var NONCE_SIZE = 12;
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
var AuthError = class extends Error {
  constructor(message = "sframe: decrypt: authentication failed") {
    super(message);
    this.name = "AuthError";
  }
};
function suiteParams(suite) {
  const p = SUITES[suite];
  if (!p) throw sframeError("UnsupportedSuiteError", `sframe: suite ${suite}: not an RFC 9605 cipher suite (1 to 5)`);
  return p;
}
function toU64(v, what) {
  const b = BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`sframe: ${what} ${b} out of the 64-bit range`);
  return b;
}
function toBig(hi, lo) {
  return hi === 0 ? BigInt(lo) : BigInt(hi) << 32n | BigInt(lo);
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
var _internal = { concat, u64bytes, u16bytes, Key, readHeader, toBig, bytes };

// src/profile.js
var { concat: concat2, u64bytes: u64bytes2, u16bytes: u16bytes2, toBig: toBig2, bytes: bytes2 } = _internal;
var Codec = Object.freeze({ NONE: "none", VP8: "vp8", OPUS: "opus" });
var SESSION_MASK = (1n << 48n) - 1n;
var enc2 = new TextEncoder();
var EXTRACT_SALT = enc2.encode("Geofence media 1.0");
var SENDER_LABEL = enc2.encode("Geofence media 1.0 sender ");
function importEpochKey(raw) {
  return globalThis.crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveBits"]);
}

// src/page.js
var MediaEncryption = class {
  constructor(worker, { onStats = () => {
  }, onError = () => {
  } } = {}) {
    this.worker = worker;
    this.nextId = 0;
    worker.onmessage = (e) => {
      if (e.data?.type === "stats") onStats(e.data.transforms);
      else if (e.data?.type === "error") onError(new Error(e.data.message));
    };
  }
  /**
   * Gives the worker the key of an epoch (a managed meeting key from the key server, or the
   * E2EE leader's key), 32 raw bytes. The bytes are imported as a non-extractable key and
   * zeroed; only the CryptoKey is posted.
   */
  async addEpoch(epoch, rawKey) {
    const key = await importEpochKey(rawKey);
    rawKey.fill(0);
    this.worker.postMessage({ type: "epoch", epoch: BigInt(epoch), key });
  }
  /** Seals outgoing media with epoch from now on: call it once every receiver has the key. */
  useEpoch(epoch) {
    this.worker.postMessage({ type: "send", epoch: BigInt(epoch) });
  }
  /** Forgets an epoch once its frames are no longer expected. */
  removeEpoch(epoch) {
    this.worker.postMessage({ type: "remove-epoch", epoch: BigInt(epoch) });
  }
  /** Asks every sender's encoder for a key frame (RTCRtpScriptTransformer.generateKeyFrame). */
  keyFrame() {
    this.worker.postMessage({ type: "keyframe" });
  }
  /** Every sender takes one ratchet step (RFC 9605 section 5.1). */
  ratchet() {
    this.worker.postMessage({ type: "ratchet" });
  }
  /** Asks for the counts now. */
  requestStats() {
    this.worker.postMessage({ type: "stats" });
  }
  /** Encrypts what an RTCRtpSender sends; codec is 'vp8', 'opus' or 'none'. */
  attachSender(sender, codec) {
    this._attach(sender, "send", codec);
  }
  /** Decrypts what an RTCRtpReceiver receives. */
  attachReceiver(receiver, codec) {
    this._attach(receiver, "receive", codec);
  }
  _attach(endpoint, side, codec) {
    if (!Object.values(Codec).includes(codec)) throw new TypeError(`unknown codec ${JSON.stringify(codec)}: want vp8, opus or none`);
    const options = { side, codec, id: `${side}-${this.nextId++}` };
    if (typeof RTCRtpScriptTransform !== "undefined") {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, options);
      return;
    }
    const { readable, writable } = endpoint.createEncodedStreams();
    this.worker.postMessage({ type: "streams", readable, writable, options }, [readable, writable]);
  }
};

// node_modules/@hpke/common/esm/src/errors.js
var HpkeError = class extends Error {
  constructor(e) {
    let message;
    if (e instanceof Error) {
      message = e.message;
    } else if (typeof e === "string") {
      message = e;
    } else {
      message = "";
    }
    super(message);
    this.name = this.constructor.name;
  }
};
var InvalidParamError = class extends HpkeError {
};
var SerializeError = class extends HpkeError {
};
var DeserializeError = class extends HpkeError {
};
var EncapError = class extends HpkeError {
};
var DecapError = class extends HpkeError {
};
var ExportError = class extends HpkeError {
};
var SealError = class extends HpkeError {
};
var OpenError = class extends HpkeError {
};
var MessageLimitReachedError = class extends HpkeError {
};
var DeriveKeyPairError = class extends HpkeError {
};
var NotSupportedError = class extends HpkeError {
};

// node_modules/@hpke/common/esm/_dnt.shims.js
var dntGlobals = {};
var dntGlobalThis = createMergeProxy(globalThis, dntGlobals);
function createMergeProxy(baseObj, extObj) {
  return new Proxy(baseObj, {
    get(_target, prop, _receiver) {
      if (prop in extObj) {
        return extObj[prop];
      } else {
        return baseObj[prop];
      }
    },
    set(_target, prop, value) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      baseObj[prop] = value;
      return true;
    },
    deleteProperty(_target, prop) {
      let success = false;
      if (prop in extObj) {
        delete extObj[prop];
        success = true;
      }
      if (prop in baseObj) {
        delete baseObj[prop];
        success = true;
      }
      return success;
    },
    ownKeys(_target) {
      const baseKeys = Reflect.ownKeys(baseObj);
      const extKeys = Reflect.ownKeys(extObj);
      const extKeysSet = new Set(extKeys);
      return [...baseKeys.filter((k) => !extKeysSet.has(k)), ...extKeys];
    },
    defineProperty(_target, prop, desc) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      Reflect.defineProperty(baseObj, prop, desc);
      return true;
    },
    getOwnPropertyDescriptor(_target, prop) {
      if (prop in extObj) {
        return Reflect.getOwnPropertyDescriptor(extObj, prop);
      } else {
        return Reflect.getOwnPropertyDescriptor(baseObj, prop);
      }
    },
    has(_target, prop) {
      return prop in extObj || prop in baseObj;
    }
  });
}

// node_modules/@hpke/common/esm/src/algorithm.js
async function loadSubtleCrypto() {
  if (dntGlobalThis !== void 0 && globalThis.crypto !== void 0) {
    return globalThis.crypto.subtle;
  }
  try {
    const { webcrypto } = await import("crypto");
    return webcrypto.subtle;
  } catch (e) {
    throw new NotSupportedError(e);
  }
}
var NativeAlgorithm = class {
  constructor() {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
  }
  async _setup() {
    if (this._api !== void 0) {
      return;
    }
    this._api = await loadSubtleCrypto();
  }
};

// node_modules/@hpke/common/esm/src/identifiers.js
var Mode = {
  Base: 0,
  Psk: 1,
  Auth: 2,
  AuthPsk: 3
};
var KemId = {
  NotAssigned: 0,
  DhkemP256HkdfSha256: 16,
  DhkemP384HkdfSha384: 17,
  DhkemP521HkdfSha512: 18,
  DhkemSecp256k1HkdfSha256: 19,
  DhkemX25519HkdfSha256: 32,
  DhkemX448HkdfSha512: 33,
  HybridkemX25519Kyber768: 48,
  MlKem512: 64,
  MlKem768: 65,
  MlKem1024: 66,
  XWing: 25722
};
var KdfId = {
  HkdfSha256: 1,
  HkdfSha384: 2,
  HkdfSha512: 3,
  Sha3256: 4,
  Sha3384: 5,
  Sha3512: 6,
  Shake128: 16,
  Shake256: 17,
  TurboShake128: 18,
  TurboShake256: 19
};
var AeadId = {
  Aes128Gcm: 1,
  Aes256Gcm: 2,
  Chacha20Poly1305: 3,
  ExportOnly: 65535
};

// node_modules/@hpke/common/esm/src/consts.js
var INPUT_LENGTH_LIMIT = 8192;
var INFO_LENGTH_LIMIT = 268435456;
var MINIMUM_PSK_LENGTH = 32;
var EMPTY2 = /* @__PURE__ */ new Uint8Array(0);
var N_0 = 0n;
var N_1 = 1n;
var N_2 = 2n;

// node_modules/@hpke/common/esm/src/interfaces/kemInterface.js
var SUITE_ID_HEADER_KEM = /* @__PURE__ */ new Uint8Array([
  75,
  69,
  77,
  0,
  0
]);

// node_modules/@hpke/common/esm/src/kdfs/hkdf.js
var HPKE_VERSION = /* @__PURE__ */ new Uint8Array([
  72,
  80,
  75,
  69,
  45,
  118,
  49
]);
function toUint8Array(input) {
  return new Uint8Array(toArrayBuffer(input));
}
function toArrayBuffer(input) {
  if (input instanceof ArrayBuffer) {
    return input;
  }
  if (ArrayBuffer.isView(input)) {
    return new Uint8Array(input.buffer, input.byteOffset, input.byteLength).slice().buffer;
  }
  return new Uint8Array(input).slice().buffer;
}
var HkdfNative = class extends NativeAlgorithm {
  constructor() {
    super();
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha256
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_suiteId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: EMPTY2
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-256",
        length: 256
      }
    });
  }
  init(suiteId) {
    this._suiteId = suiteId;
  }
  buildLabeledIkm(label2, ikm) {
    this._checkInit();
    const ret = new Uint8Array(7 + this._suiteId.byteLength + label2.byteLength + ikm.byteLength);
    ret.set(HPKE_VERSION, 0);
    ret.set(this._suiteId, 7);
    ret.set(label2, 7 + this._suiteId.byteLength);
    ret.set(ikm, 7 + this._suiteId.byteLength + label2.byteLength);
    return ret;
  }
  buildLabeledInfo(label2, info, len) {
    this._checkInit();
    const ret = new Uint8Array(9 + this._suiteId.byteLength + label2.byteLength + info.byteLength);
    ret.set(new Uint8Array([0, len]), 0);
    ret.set(HPKE_VERSION, 2);
    ret.set(this._suiteId, 9);
    ret.set(label2, 9 + this._suiteId.byteLength);
    ret.set(info, 9 + this._suiteId.byteLength + label2.byteLength);
    return ret;
  }
  async extract(salt, ikm) {
    await this._setup();
    const saltBuf = salt.byteLength === 0 ? new ArrayBuffer(this.hashSize) : toArrayBuffer(salt);
    if (saltBuf.byteLength !== this.hashSize) {
      throw new InvalidParamError("The salt length must be the same as the hashSize");
    }
    const ikmBuf = toArrayBuffer(ikm);
    const key = await this._api.importKey("raw", saltBuf, this.algHash, false, [
      "sign"
    ]);
    return await this._api.sign("HMAC", key, ikmBuf);
  }
  async expand(prk, info, len) {
    await this._setup();
    const prkBuf = toArrayBuffer(prk);
    const key = await this._api.importKey("raw", prkBuf, this.algHash, false, [
      "sign"
    ]);
    const okm = new ArrayBuffer(len);
    const okmBytes = new Uint8Array(okm);
    let prev = EMPTY2;
    const mid = toUint8Array(info);
    const tail = new Uint8Array(1);
    if (len > 255 * this.hashSize) {
      throw new Error("Entropy limit reached");
    }
    const tmp = new Uint8Array(this.hashSize + mid.length + 1);
    for (let i = 1, cur = 0; cur < okmBytes.length; i++) {
      tail[0] = i;
      tmp.set(prev, 0);
      tmp.set(mid, prev.length);
      tmp.set(tail, prev.length + mid.length);
      prev = new Uint8Array(await this._api.sign("HMAC", key, tmp.slice(0, prev.length + mid.length + 1)));
      if (okmBytes.length - cur >= prev.length) {
        okmBytes.set(prev, cur);
        cur += prev.length;
      } else {
        okmBytes.set(prev.slice(0, okmBytes.length - cur), cur);
        cur += okmBytes.length - cur;
      }
    }
    return okm;
  }
  async extractAndExpand(salt, ikm, info, len) {
    await this._setup();
    const ikmBuf = toArrayBuffer(ikm);
    const baseKey = await this._api.importKey("raw", ikmBuf, "HKDF", false, ["deriveBits"]);
    return await this._api.deriveBits({
      name: "HKDF",
      hash: this.algHash.hash,
      salt: toArrayBuffer(salt),
      info: toArrayBuffer(info)
    }, baseKey, len * 8);
  }
  async labeledExtract(salt, label2, ikm) {
    return await this.extract(salt, this.buildLabeledIkm(label2, ikm));
  }
  async labeledExpand(prk, label2, info, len) {
    return await this.expand(prk, this.buildLabeledInfo(label2, info, len), len);
  }
  _checkInit() {
    if (this._suiteId === EMPTY2) {
      throw new Error("Not initialized. Call init()");
    }
  }
};
var HkdfSha256Native = class extends HkdfNative {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha256
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-256",
        length: 256
      }
    });
  }
};

// node_modules/@hpke/common/esm/src/utils/misc.js
var isCryptoKeyPair = (x) => typeof x === "object" && x !== null && typeof x.privateKey === "object" && typeof x.publicKey === "object";
function i2Osp(n, w) {
  if (w <= 0) {
    throw new Error("i2Osp: too small size");
  }
  if (n >= 256 ** w) {
    throw new Error("i2Osp: too large integer");
  }
  const ret = new Uint8Array(w);
  for (let i = 0; i < w && n; i++) {
    ret[w - (i + 1)] = n % 256;
    n = Math.floor(n / 256);
  }
  return ret;
}
function concat3(a, b) {
  const ret = new Uint8Array(a.length + b.length);
  ret.set(a, 0);
  ret.set(b, a.length);
  return ret;
}
function base64UrlToBytes(v) {
  const base64 = v.replace(/-/g, "+").replace(/_/g, "/");
  const byteString = atob(base64);
  const ret = new Uint8Array(byteString.length);
  for (let i = 0; i < byteString.length; i++) {
    ret[i] = byteString.charCodeAt(i);
  }
  return ret;
}
async function loadCrypto() {
  if (typeof dntGlobalThis !== "undefined" && globalThis.crypto !== void 0) {
    return globalThis.crypto;
  }
  try {
    const { webcrypto } = await import("crypto");
    return webcrypto;
  } catch (_e) {
    throw new Error("failed to load Crypto");
  }
}
function xor(a, b) {
  if (a.byteLength !== b.byteLength) {
    throw new Error("xor: different length inputs");
  }
  const buf = new Uint8Array(a.byteLength);
  for (let i = 0; i < a.byteLength; i++) {
    buf[i] = a[i] ^ b[i];
  }
  return buf;
}

// node_modules/@hpke/common/esm/src/kems/dhkem.js
var LABEL_EAE_PRK = /* @__PURE__ */ new Uint8Array([
  101,
  97,
  101,
  95,
  112,
  114,
  107
]);
var LABEL_SHARED_SECRET = /* @__PURE__ */ new Uint8Array([
  115,
  104,
  97,
  114,
  101,
  100,
  95,
  115,
  101,
  99,
  114,
  101,
  116
]);
function concat32(a, b, c) {
  const ret = new Uint8Array(a.length + b.length + c.length);
  ret.set(a, 0);
  ret.set(b, a.length);
  ret.set(c, a.length + b.length);
  return ret;
}
var Dhkem = class {
  constructor(id, prim, kdf) {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_prim", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.id = id;
    this._prim = prim;
    this._kdf = kdf;
    const suiteId = new Uint8Array(SUITE_ID_HEADER_KEM);
    suiteId.set(i2Osp(this.id, 2), 3);
    this._kdf.init(suiteId);
  }
  async serializePublicKey(key) {
    return await this._prim.serializePublicKey(key);
  }
  async deserializePublicKey(key) {
    return await this._prim.deserializePublicKey(toArrayBuffer(key));
  }
  async serializePrivateKey(key) {
    return await this._prim.serializePrivateKey(key);
  }
  async deserializePrivateKey(key) {
    return await this._prim.deserializePrivateKey(toArrayBuffer(key));
  }
  async importKey(format, key, isPublic = true) {
    return await this._prim.importKey(format, key, isPublic);
  }
  async generateKeyPair() {
    return await this._prim.generateKeyPair();
  }
  async deriveKeyPair(ikm) {
    const rawIkm = toArrayBuffer(ikm);
    if (rawIkm.byteLength > INPUT_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long ikm");
    }
    return await this._prim.deriveKeyPair(rawIkm);
  }
  async encap(params) {
    let ke;
    if (params.ekm === void 0) {
      ke = await this.generateKeyPair();
    } else if (isCryptoKeyPair(params.ekm)) {
      ke = params.ekm;
    } else {
      ke = await this.deriveKeyPair(params.ekm);
    }
    const enc3 = await this._prim.serializePublicKey(ke.publicKey);
    const pkrm = await this._prim.serializePublicKey(params.recipientPublicKey);
    try {
      let dh;
      if (params.senderKey === void 0) {
        dh = new Uint8Array(await this._prim.dh(ke.privateKey, params.recipientPublicKey));
      } else {
        const sks = isCryptoKeyPair(params.senderKey) ? params.senderKey.privateKey : params.senderKey;
        const dh1 = new Uint8Array(await this._prim.dh(ke.privateKey, params.recipientPublicKey));
        const dh2 = new Uint8Array(await this._prim.dh(sks, params.recipientPublicKey));
        dh = concat3(dh1, dh2);
      }
      let kemContext;
      if (params.senderKey === void 0) {
        kemContext = concat3(new Uint8Array(enc3), new Uint8Array(pkrm));
      } else {
        const pks = isCryptoKeyPair(params.senderKey) ? params.senderKey.publicKey : await this._prim.derivePublicKey(params.senderKey);
        const pksm = await this._prim.serializePublicKey(pks);
        kemContext = concat32(new Uint8Array(enc3), new Uint8Array(pkrm), new Uint8Array(pksm));
      }
      const sharedSecret = await this._generateSharedSecret(dh, kemContext);
      return {
        enc: enc3,
        sharedSecret
      };
    } catch (e) {
      throw new EncapError(e);
    }
  }
  async decap(params) {
    const enc3 = toArrayBuffer(params.enc);
    const pke = await this._prim.deserializePublicKey(enc3);
    const skr = isCryptoKeyPair(params.recipientKey) ? params.recipientKey.privateKey : params.recipientKey;
    const pkr = isCryptoKeyPair(params.recipientKey) ? params.recipientKey.publicKey : await this._prim.derivePublicKey(params.recipientKey);
    const pkrm = await this._prim.serializePublicKey(pkr);
    try {
      let dh;
      if (params.senderPublicKey === void 0) {
        dh = new Uint8Array(await this._prim.dh(skr, pke));
      } else {
        const dh1 = new Uint8Array(await this._prim.dh(skr, pke));
        const dh2 = new Uint8Array(await this._prim.dh(skr, params.senderPublicKey));
        dh = concat3(dh1, dh2);
      }
      let kemContext;
      if (params.senderPublicKey === void 0) {
        kemContext = concat3(new Uint8Array(enc3), new Uint8Array(pkrm));
      } else {
        const pksm = await this._prim.serializePublicKey(params.senderPublicKey);
        kemContext = new Uint8Array(enc3.byteLength + pkrm.byteLength + pksm.byteLength);
        kemContext.set(new Uint8Array(enc3), 0);
        kemContext.set(new Uint8Array(pkrm), enc3.byteLength);
        kemContext.set(new Uint8Array(pksm), enc3.byteLength + pkrm.byteLength);
      }
      return await this._generateSharedSecret(dh, kemContext);
    } catch (e) {
      throw new DecapError(e);
    }
  }
  async _generateSharedSecret(dh, kemContext) {
    const labeledIkm = this._kdf.buildLabeledIkm(LABEL_EAE_PRK, dh);
    const labeledInfo = this._kdf.buildLabeledInfo(LABEL_SHARED_SECRET, kemContext, this.secretSize);
    return await this._kdf.extractAndExpand(EMPTY2, labeledIkm, labeledInfo, this.secretSize);
  }
};

// node_modules/@hpke/common/esm/src/interfaces/dhkemPrimitives.js
var KEM_USAGES = ["deriveBits"];
var LABEL_DKP_PRK = /* @__PURE__ */ new Uint8Array([
  100,
  107,
  112,
  95,
  112,
  114,
  107
]);
var LABEL_SK = /* @__PURE__ */ new Uint8Array([115, 107]);

// node_modules/@hpke/common/esm/src/kems/dhkemPrimitives/ec.js
var EC_P_521_PARAMS = {
  p: (1n << 521n) - 1n,
  b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
  gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
  coordinateSize: 66
};

// node_modules/@hpke/common/esm/src/xCryptoKey.js
var XCryptoKey = class {
  constructor(name, key, type, usages = []) {
    Object.defineProperty(this, "key", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "type", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "extractable", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: true
    });
    Object.defineProperty(this, "algorithm", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "usages", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.key = key;
    this.type = type;
    this.algorithm = { name };
    this.usages = usages;
    if (type === "public") {
      this.usages = [];
    }
  }
};

// node_modules/@hpke/common/esm/src/kems/dhkemPrimitives/xCurve.js
var XCurveDhkemPrimitives = class {
  constructor(algName, keySize, curve, hkdf2) {
    Object.defineProperty(this, "_algName", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_curve", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_hkdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nPk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nSk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._algName = algName;
    this._nPk = keySize;
    this._nSk = keySize;
    this._curve = curve;
    this._hkdf = hkdf2;
  }
  serializePublicKey(key) {
    try {
      return Promise.resolve(key.key.buffer);
    } catch (e) {
      return Promise.reject(new SerializeError(e));
    }
  }
  async deserializePublicKey(key) {
    try {
      return await this._importRawKey(toArrayBuffer(key), true);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  serializePrivateKey(key) {
    try {
      return Promise.resolve(key.key.buffer);
    } catch (e) {
      return Promise.reject(new SerializeError(e));
    }
  }
  async deserializePrivateKey(key) {
    try {
      return await this._importRawKey(toArrayBuffer(key), false);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async importKey(format, key, isPublic) {
    try {
      if (format === "raw") {
        return await this._importRawKey(key, isPublic);
      }
      if (key instanceof ArrayBuffer) {
        throw new Error("Invalid jwk key format");
      }
      return await this._importJWK(key, isPublic);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async generateKeyPair() {
    try {
      const rawSk = await this._curve.utils.randomSecretKey();
      const sk = new XCryptoKey(this._algName, rawSk, "private", KEM_USAGES);
      const pk = await this.derivePublicKey(sk);
      return { publicKey: pk, privateKey: sk };
    } catch (e) {
      throw new NotSupportedError(e);
    }
  }
  async deriveKeyPair(ikm) {
    try {
      const rawIkm = toArrayBuffer(ikm);
      const dkpPrk = await this._hkdf.labeledExtract(EMPTY2.buffer, LABEL_DKP_PRK, new Uint8Array(rawIkm));
      const rawSk = await this._hkdf.labeledExpand(dkpPrk, LABEL_SK, EMPTY2, this._nSk);
      const sk = new XCryptoKey(this._algName, new Uint8Array(rawSk), "private", KEM_USAGES);
      return {
        privateKey: sk,
        publicKey: await this.derivePublicKey(sk)
      };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  derivePublicKey(key) {
    try {
      const pk = this._curve.getPublicKey(key.key);
      return Promise.resolve(new XCryptoKey(this._algName, pk, "public"));
    } catch (e) {
      return Promise.reject(new DeserializeError(e));
    }
  }
  dh(sk, pk) {
    try {
      return Promise.resolve(this._curve.getSharedSecret(sk.key, pk.key).buffer);
    } catch (e) {
      return Promise.reject(new SerializeError(e));
    }
  }
  _importRawKey(key, isPublic) {
    return new Promise((resolve, reject) => {
      if (isPublic && key.byteLength !== this._nPk) {
        reject(new Error("Invalid length of the key"));
      }
      if (!isPublic && key.byteLength !== this._nSk) {
        reject(new Error("Invalid length of the key"));
      }
      resolve(new XCryptoKey(this._algName, new Uint8Array(key), isPublic ? "public" : "private", isPublic ? [] : KEM_USAGES));
    });
  }
  _importJWK(key, isPublic) {
    return new Promise((resolve, reject) => {
      if (key.kty !== "OKP") {
        reject(new Error(`Invalid kty: ${key.kty}`));
      }
      if (key.crv !== this._algName) {
        reject(new Error(`Invalid crv: ${key.crv}`));
      }
      if (isPublic) {
        if (typeof key.d !== "undefined") {
          reject(new Error("Invalid key: `d` should not be set"));
        }
        if (typeof key.x !== "string") {
          reject(new Error("Invalid key: `x` not found"));
        }
        resolve(new XCryptoKey(this._algName, base64UrlToBytes(key.x), "public"));
      } else {
        if (typeof key.d !== "string") {
          reject(new Error("Invalid key: `d` not found"));
        }
        resolve(new XCryptoKey(this._algName, base64UrlToBytes(key.d), "private", KEM_USAGES));
      }
    });
  }
};

// node_modules/@hpke/common/esm/src/interfaces/aeadEncryptionContext.js
var AEAD_USAGES = ["encrypt", "decrypt"];

// node_modules/@hpke/common/esm/src/utils/noble.js
function isBytes(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array";
}
function anumber(n, title = "") {
  if (!Number.isSafeInteger(n) || n < 0) {
    const prefix = title && `"${title}" `;
    throw new Error(`${prefix}expected integer >0, got ${n}`);
  }
}
function abytes(value, length, title = "") {
  const bytes3 = isBytes(value);
  const len = value?.length;
  const needsLen = length !== void 0;
  if (!bytes3 || needsLen && len !== length) {
    const prefix = title && `"${title}" `;
    const ofLen = needsLen ? ` of length ${length}` : "";
    const got = bytes3 ? `length=${len}` : `type=${typeof value}`;
    throw new Error(prefix + "expected Uint8Array" + ofLen + ", got " + got);
  }
  return value;
}
function aexists(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("Hash instance has been destroyed");
  if (checkFinished && instance.finished) {
    throw new Error("Hash#digest() has already been called");
  }
}
function aoutput(out, instance) {
  abytes(out, void 0, "digestInto() output");
  const min = instance.outputLen;
  if (out.length < min) {
    throw new Error('"digestInto() output" expected to be of length >=' + min);
  }
}
function abignumer(n) {
  if (typeof n === "bigint") {
    if (!isPosBig(n))
      throw new Error("positive bigint expected, got " + n);
  } else
    anumber(n);
  return n;
}
function clean(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
var _endianTestBuffer = /* @__PURE__ */ new Uint32Array([287454020]);
var _endianTestBytes = /* @__PURE__ */ new Uint8Array(_endianTestBuffer.buffer);
var isLE = _endianTestBytes[0] === 68;
function createView(arr) {
  return new DataView(arr.buffer, arr.byteOffset, arr.byteLength);
}
function rotr(word, shift) {
  return word << 32 - shift | word >>> shift;
}
var hasHexBuiltin = /* @__PURE__ */ (() => (
  // @ts-ignore: to use toHex
  typeof Uint8Array.from([]).toHex === "function" && // @ts-ignore: to use fromHex
  typeof Uint8Array.fromHex === "function"
))();
var hexes = /* @__PURE__ */ Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
var HEX_TO_BIGINT = [
  0n,
  1n,
  2n,
  3n,
  4n,
  5n,
  6n,
  7n,
  8n,
  9n,
  10n,
  11n,
  12n,
  13n,
  14n,
  15n
];
function bytesToHex(bytes3) {
  abytes(bytes3);
  if (hasHexBuiltin)
    return bytes3.toHex();
  let hex = "";
  for (let i = 0; i < bytes3.length; i++) {
    hex += hexes[bytes3[i]];
  }
  return hex;
}
var asciis = { _0: 48, _9: 57, A: 65, F: 70, a: 97, f: 102 };
function asciiToBase16(ch) {
  if (ch >= asciis._0 && ch <= asciis._9)
    return ch - asciis._0;
  if (ch >= asciis.A && ch <= asciis.F)
    return ch - (asciis.A - 10);
  if (ch >= asciis.a && ch <= asciis.f)
    return ch - (asciis.a - 10);
  return;
}
function hexToBytes(hex) {
  if (typeof hex !== "string") {
    throw new Error("hex string expected, got " + typeof hex);
  }
  if (hasHexBuiltin)
    return Uint8Array.fromHex(hex);
  const hl = hex.length;
  const al = hl / 2;
  if (hl % 2) {
    throw new Error("hex string expected, got unpadded hex of length " + hl);
  }
  const array = new Uint8Array(al);
  for (let ai = 0, hi = 0; ai < al; ai++, hi += 2) {
    const n1 = asciiToBase16(hex.charCodeAt(hi));
    const n2 = asciiToBase16(hex.charCodeAt(hi + 1));
    if (n1 === void 0 || n2 === void 0) {
      const char = hex[hi] + hex[hi + 1];
      throw new Error('hex string expected, got non-hex character "' + char + '" at index ' + hi);
    }
    array[ai] = n1 * 16 + n2;
  }
  return array;
}
function hexToNumber(hex) {
  if (typeof hex !== "string") {
    throw new Error("hex string expected, got " + typeof hex);
  }
  let out = N_0;
  for (let i = 0; i < hex.length; i++) {
    const n = asciiToBase16(hex.charCodeAt(i));
    if (n === void 0) {
      throw new Error('hex string expected, got non-hex character "' + hex[i] + '" at index ' + i);
    }
    out = out << 4n | HEX_TO_BIGINT[n];
  }
  return out;
}
function numberToBigint(num) {
  anumber(num, "numberToBigint");
  let n = num;
  let out = N_0;
  let bit = 1n;
  while (n > 0) {
    if (n % 2 === 1)
      out += bit;
    n = Math.floor(n / 2);
    bit <<= 1n;
  }
  return out;
}
function bytesToNumberLE(bytes3) {
  return hexToNumber(bytesToHex(copyBytes(abytes(bytes3)).reverse()));
}
function numberToBytesBE(n, len) {
  anumber(len);
  n = abignumer(n);
  const res = hexToBytes(n.toString(16).padStart(len * 2, "0"));
  if (res.length !== len)
    throw new Error("number too large");
  return res;
}
function numberToBytesLE(n, len) {
  return numberToBytesBE(n, len).reverse();
}
function copyBytes(bytes3) {
  return Uint8Array.from(bytes3);
}
function isPosBig(n) {
  return typeof n === "bigint" && N_0 <= n;
}
function inRange(n, min, max) {
  return isPosBig(n) && isPosBig(min) && isPosBig(max) && min <= n && n < max;
}
function aInRange(title, n, min, max) {
  if (!inRange(n, min, max)) {
    throw new Error("expected valid " + title + ": " + min + " <= n < " + max + ", got " + n);
  }
}
function validateObject(object, fields = {}, optFields = {}) {
  if (!object || typeof object !== "object") {
    throw new Error("expected valid options object");
  }
  function checkField(fieldName, expectedType, isOpt) {
    const val = object[fieldName];
    if (isOpt && val === void 0)
      return;
    const current = typeof val;
    if (current !== expectedType || val === null) {
      throw new Error(`param "${fieldName}" is invalid: expected ${expectedType}, got ${current}`);
    }
  }
  const iter = (f, isOpt) => Object.entries(f).forEach(([k, v]) => checkField(k, v, isOpt));
  iter(fields, false);
  iter(optFields, true);
}
async function randomBytesAsync(bytesLength = 32) {
  const api = await loadCrypto();
  const rnd = new Uint8Array(bytesLength);
  api.getRandomValues(rnd);
  return rnd;
}
function oidNist(suffix) {
  return {
    oid: Uint8Array.from([
      6,
      9,
      96,
      134,
      72,
      1,
      101,
      3,
      4,
      2,
      suffix
    ])
  };
}

// node_modules/@hpke/common/esm/src/hash/hash.js
function ahash(h) {
  if (typeof h !== "function" || typeof h.create !== "function") {
    throw new Error("Hash must wrapped by utils.createHasher");
  }
  anumber(h.outputLen);
  anumber(h.blockLen);
}
function createHasher(hashCons, info = {}) {
  const hashFn = (msg, opts) => hashCons(opts).update(msg).digest();
  const tmp = hashCons(void 0);
  const hashC = Object.assign(hashFn, {
    outputLen: tmp.outputLen,
    blockLen: tmp.blockLen,
    create: (opts) => hashCons(opts),
    ...info
  });
  return Object.freeze(hashC);
}

// node_modules/@hpke/common/esm/src/hash/hmac.js
var _HMAC = class {
  constructor(hash, key) {
    Object.defineProperty(this, "oHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "iHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "blockLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "outputLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "finished", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "destroyed", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    ahash(hash);
    abytes(key, void 0, "key");
    this.iHash = hash.create();
    if (typeof this.iHash.update !== "function") {
      throw new Error("Expected instance of class which extends utils.Hash");
    }
    this.blockLen = this.iHash.blockLen;
    this.outputLen = this.iHash.outputLen;
    const blockLen = this.blockLen;
    const pad = new Uint8Array(blockLen);
    pad.set(key.length > blockLen ? hash.create().update(key).digest() : key);
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54;
    this.iHash.update(pad);
    this.oHash = hash.create();
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54 ^ 92;
    this.oHash.update(pad);
    clean(pad);
  }
  update(buf) {
    aexists(this);
    this.iHash.update(buf);
    return this;
  }
  digestInto(out) {
    aexists(this);
    abytes(out, this.outputLen, "output");
    this.finished = true;
    this.iHash.digestInto(out);
    this.oHash.update(out);
    this.oHash.digestInto(out);
    this.destroy();
  }
  digest() {
    const out = new Uint8Array(this.oHash.outputLen);
    this.digestInto(out);
    return out;
  }
  _cloneInto(to) {
    to ||= Object.create(Object.getPrototypeOf(this), {});
    const { oHash, iHash, finished, destroyed, blockLen, outputLen } = this;
    to = to;
    to.finished = finished;
    to.destroyed = destroyed;
    to.blockLen = blockLen;
    to.outputLen = outputLen;
    to.oHash = oHash._cloneInto(to.oHash);
    to.iHash = iHash._cloneInto(to.iHash);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
  destroy() {
    this.destroyed = true;
    this.oHash.destroy();
    this.iHash.destroy();
  }
};
var hmac = (hash, key, message) => new _HMAC(hash, key).update(message).digest();
hmac.create = (hash, key) => new _HMAC(hash, key);

// node_modules/@hpke/common/esm/src/hash/md.js
function Chi(a, b, c) {
  return a & b ^ ~a & c;
}
function Maj(a, b, c) {
  return a & b ^ a & c ^ b & c;
}
var HashMD = class {
  constructor(blockLen, outputLen, padOffset, isLE3) {
    Object.defineProperty(this, "blockLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "outputLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "padOffset", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "isLE", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "buffer", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "view", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "finished", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "length", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "pos", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "destroyed", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    this.blockLen = blockLen;
    this.outputLen = outputLen;
    this.padOffset = padOffset;
    this.isLE = isLE3;
    this.buffer = new Uint8Array(blockLen);
    this.view = createView(this.buffer);
  }
  update(data) {
    aexists(this);
    abytes(data);
    const { view, buffer, blockLen } = this;
    const len = data.length;
    for (let pos = 0; pos < len; ) {
      const take = Math.min(blockLen - this.pos, len - pos);
      if (take === blockLen) {
        const dataView = createView(data);
        for (; blockLen <= len - pos; pos += blockLen) {
          this.process(dataView, pos);
        }
        continue;
      }
      buffer.set(data.subarray(pos, pos + take), this.pos);
      this.pos += take;
      pos += take;
      if (this.pos === blockLen) {
        this.process(view, 0);
        this.pos = 0;
      }
    }
    this.length += data.length;
    this.roundClean();
    return this;
  }
  digestInto(out) {
    aexists(this);
    aoutput(out, this);
    this.finished = true;
    const { buffer, view, blockLen, isLE: isLE3 } = this;
    let { pos } = this;
    buffer[pos++] = 128;
    clean(this.buffer.subarray(pos));
    if (this.padOffset > blockLen - pos) {
      this.process(view, 0);
      pos = 0;
    }
    for (let i = pos; i < blockLen; i++)
      buffer[i] = 0;
    view.setBigUint64(blockLen - 8, numberToBigint(this.length * 8), isLE3);
    this.process(view, 0);
    const oview = createView(out);
    const len = this.outputLen;
    if (len % 4)
      throw new Error("_sha2: outputLen must be aligned to 32bit");
    const outLen = len / 4;
    const state2 = this.get();
    if (outLen > state2.length) {
      throw new Error("_sha2: outputLen bigger than state");
    }
    for (let i = 0; i < outLen; i++)
      oview.setUint32(4 * i, state2[i], isLE3);
  }
  digest() {
    const { buffer, outputLen } = this;
    this.digestInto(buffer);
    const res = buffer.slice(0, outputLen);
    this.destroy();
    return res;
  }
  _cloneInto(to) {
    to ||= new this.constructor();
    to.set(...this.get());
    const { blockLen, buffer, length, finished, destroyed, pos } = this;
    to.destroyed = destroyed;
    to.finished = finished;
    to.length = length;
    to.pos = pos;
    if (length % blockLen)
      to.buffer.set(buffer);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
};
var SHA256_IV = /* @__PURE__ */ Uint32Array.from([
  1779033703,
  3144134277,
  1013904242,
  2773480762,
  1359893119,
  2600822924,
  528734635,
  1541459225
]);

// node_modules/@hpke/common/esm/src/hash/u64.js
var U32_MASK64 = 0xffffffffn;
var _32n = 32n;
function fromBig(n, le = false) {
  if (le) {
    return { h: Number(n & U32_MASK64), l: Number(n >> _32n & U32_MASK64) };
  }
  return {
    h: Number(n >> _32n & U32_MASK64) | 0,
    l: Number(n & U32_MASK64) | 0
  };
}
function split(lst, le = false) {
  const len = lst.length;
  const Ah = new Uint32Array(len);
  const Al = new Uint32Array(len);
  for (let i = 0; i < len; i++) {
    const { h, l } = fromBig(lst[i], le);
    [Ah[i], Al[i]] = [h, l];
  }
  return [Ah, Al];
}

// node_modules/@hpke/common/esm/src/hash/sha2.js
var SHA256_K = /* @__PURE__ */ Uint32Array.from([
  1116352408,
  1899447441,
  3049323471,
  3921009573,
  961987163,
  1508970993,
  2453635748,
  2870763221,
  3624381080,
  310598401,
  607225278,
  1426881987,
  1925078388,
  2162078206,
  2614888103,
  3248222580,
  3835390401,
  4022224774,
  264347078,
  604807628,
  770255983,
  1249150122,
  1555081692,
  1996064986,
  2554220882,
  2821834349,
  2952996808,
  3210313671,
  3336571891,
  3584528711,
  113926993,
  338241895,
  666307205,
  773529912,
  1294757372,
  1396182291,
  1695183700,
  1986661051,
  2177026350,
  2456956037,
  2730485921,
  2820302411,
  3259730800,
  3345764771,
  3516065817,
  3600352804,
  4094571909,
  275423344,
  430227734,
  506948616,
  659060556,
  883997877,
  958139571,
  1322822218,
  1537002063,
  1747873779,
  1955562222,
  2024104815,
  2227730452,
  2361852424,
  2428436474,
  2756734187,
  3204031479,
  3329325298
]);
var SHA256_W = /* @__PURE__ */ new Uint32Array(64);
var SHA2_32B = class extends HashMD {
  constructor(outputLen) {
    super(64, outputLen, 8, false);
  }
  get() {
    const { A, B, C, D, E, F, G, H } = this;
    return [A, B, C, D, E, F, G, H];
  }
  set(A, B, C, D, E, F, G, H) {
    this.A = A | 0;
    this.B = B | 0;
    this.C = C | 0;
    this.D = D | 0;
    this.E = E | 0;
    this.F = F | 0;
    this.G = G | 0;
    this.H = H | 0;
  }
  process(view, offset) {
    for (let i = 0; i < 16; i++, offset += 4) {
      SHA256_W[i] = view.getUint32(offset, false);
    }
    for (let i = 16; i < 64; i++) {
      const W15 = SHA256_W[i - 15];
      const W2 = SHA256_W[i - 2];
      const s0 = rotr(W15, 7) ^ rotr(W15, 18) ^ W15 >>> 3;
      const s1 = rotr(W2, 17) ^ rotr(W2, 19) ^ W2 >>> 10;
      SHA256_W[i] = s1 + SHA256_W[i - 7] + s0 + SHA256_W[i - 16] | 0;
    }
    let { A, B, C, D, E, F, G, H } = this;
    for (let i = 0; i < 64; i++) {
      const sigma1 = rotr(E, 6) ^ rotr(E, 11) ^ rotr(E, 25);
      const T1 = H + sigma1 + Chi(E, F, G) + SHA256_K[i] + SHA256_W[i] | 0;
      const sigma0 = rotr(A, 2) ^ rotr(A, 13) ^ rotr(A, 22);
      const T2 = sigma0 + Maj(A, B, C) | 0;
      H = G;
      G = F;
      F = E;
      E = D + T1 | 0;
      D = C;
      C = B;
      B = A;
      A = T1 + T2 | 0;
    }
    A = A + this.A | 0;
    B = B + this.B | 0;
    C = C + this.C | 0;
    D = D + this.D | 0;
    E = E + this.E | 0;
    F = F + this.F | 0;
    G = G + this.G | 0;
    H = H + this.H | 0;
    this.set(A, B, C, D, E, F, G, H);
  }
  roundClean() {
    clean(SHA256_W);
  }
  destroy() {
    this.set(0, 0, 0, 0, 0, 0, 0, 0);
    clean(this.buffer);
  }
};
var _SHA256 = class extends SHA2_32B {
  constructor() {
    super(32);
    Object.defineProperty(this, "A", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: SHA256_IV[0] | 0
    });
    Object.defineProperty(this, "B", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: SHA256_IV[1] | 0
    });
    Object.defineProperty(this, "C", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: SHA256_IV[2] | 0
    });
    Object.defineProperty(this, "D", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: SHA256_IV[3] | 0
    });
    Object.defineProperty(this, "E", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: SHA256_IV[4] | 0
    });
    Object.defineProperty(this, "F", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: SHA256_IV[5] | 0
    });
    Object.defineProperty(this, "G", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: SHA256_IV[6] | 0
    });
    Object.defineProperty(this, "H", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: SHA256_IV[7] | 0
    });
  }
};
var sha256 = /* @__PURE__ */ createHasher(
  () => new _SHA256(),
  /* @__PURE__ */ oidNist(1)
);

// node_modules/@hpke/common/esm/src/hash/sha3.js
var _0n = 0n;
var _1n = 1n;
var _2n = 2n;
var _7n = 7n;
var _256n = 256n;
var _0x71n = 0x71n;
var SHA3_PI = [];
var SHA3_ROTL = [];
var _SHA3_IOTA = [];
for (let round = 0, R = _1n, x = 1, y = 0; round < 24; round++) {
  [x, y] = [y, (2 * x + 3 * y) % 5];
  SHA3_PI.push(2 * (5 * y + x));
  SHA3_ROTL.push((round + 1) * (round + 2) / 2 % 64);
  let t = _0n;
  for (let j = 0; j < 7; j++) {
    R = (R << _1n ^ (R >> _7n) * _0x71n) % _256n;
    if (R & _2n)
      t ^= _1n << (_1n << BigInt(j)) - _1n;
  }
  _SHA3_IOTA.push(t);
}
var IOTAS = split(_SHA3_IOTA, true);
var SHA3_IOTA_H = IOTAS[0];
var SHA3_IOTA_L = IOTAS[1];

// node_modules/@hpke/common/esm/src/curve/modular.js
function mod(a, b) {
  const result = a % b;
  return result >= N_0 ? result : b + result;
}
function pow2(x, power, modulo) {
  let res = x;
  while (power-- > N_0) {
    res *= res;
    res %= modulo;
  }
  return res;
}

// node_modules/@hpke/common/esm/src/curve/curve.js
function createKeygen(randomSecretKey, getPublicKey) {
  return function keygen(seed) {
    const secretKey = randomSecretKey(seed);
    return { secretKey, publicKey: getPublicKey(secretKey) };
  };
}

// node_modules/@hpke/common/esm/src/curve/montgomery.js
function validateOpts(curve) {
  validateObject(curve, {
    adjustScalarBytes: "function",
    powPminus2: "function"
  });
  return Object.freeze({ ...curve });
}
function montgomery(curveDef) {
  const CURVE = validateOpts(curveDef);
  const { P, type, adjustScalarBytes: adjustScalarBytes2, powPminus2, randomBytes: rand } = CURVE;
  const is25519 = type === "x25519";
  if (!is25519 && type !== "x448")
    throw new Error("invalid type");
  const randomBytes_ = rand || randomBytesAsync;
  const montgomeryBits = is25519 ? 255n : 448n;
  const fieldLen2 = is25519 ? 32 : 56;
  const Gu = is25519 ? 9n : 5n;
  const a24 = is25519 ? 121665n : 39081n;
  const minScalar = is25519 ? N_2 ** 254n : N_2 ** 447n;
  const maxAdded = is25519 ? 8n * N_2 ** 251n - N_1 : 4n * N_2 ** 445n - N_1;
  const maxScalar = minScalar + maxAdded + N_1;
  const modP = (n) => mod(n, P);
  const GuBytes = encodeU(Gu);
  function encodeU(u) {
    return numberToBytesLE(modP(u), fieldLen2);
  }
  function decodeU(u) {
    const _u = copyBytes(abytes(u, fieldLen2, "uCoordinate"));
    if (is25519)
      _u[31] &= 127;
    return modP(bytesToNumberLE(_u));
  }
  function decodeScalar(scalar) {
    return bytesToNumberLE(adjustScalarBytes2(copyBytes(abytes(scalar, fieldLen2, "scalar"))));
  }
  function scalarMult(scalar, u) {
    const pu = montgomeryLadder(decodeU(u), decodeScalar(scalar));
    if (pu === N_0)
      throw new Error("invalid private or public key received");
    return encodeU(pu);
  }
  function scalarMultBase(scalar) {
    return scalarMult(scalar, GuBytes);
  }
  const getPublicKey = scalarMultBase;
  const getSharedSecret = scalarMult;
  function cswap(swap, x_2, x_3) {
    const dummy = modP(swap * (x_2 - x_3));
    x_2 = modP(x_2 - dummy);
    x_3 = modP(x_3 + dummy);
    return { x_2, x_3 };
  }
  function montgomeryLadder(u, scalar) {
    aInRange("u", u, N_0, P);
    aInRange("scalar", scalar, minScalar, maxScalar);
    const k = scalar;
    const x_1 = u;
    let x_2 = N_1;
    let z_2 = N_0;
    let x_3 = u;
    let z_3 = N_1;
    let swap = N_0;
    for (let t = montgomeryBits - 1n; t >= N_0; t--) {
      const k_t = k >> t & N_1;
      swap ^= k_t;
      ({ x_2, x_3 } = cswap(swap, x_2, x_3));
      ({ x_2: z_2, x_3: z_3 } = cswap(swap, z_2, z_3));
      swap = k_t;
      const A = x_2 + z_2;
      const AA = modP(A * A);
      const B = x_2 - z_2;
      const BB = modP(B * B);
      const E = AA - BB;
      const C = x_3 + z_3;
      const D = x_3 - z_3;
      const DA = modP(D * A);
      const CB = modP(C * B);
      const dacb = DA + CB;
      const da_cb = DA - CB;
      x_3 = modP(dacb * dacb);
      z_3 = modP(x_1 * modP(da_cb * da_cb));
      x_2 = modP(AA * BB);
      z_2 = modP(E * (AA + modP(a24 * E)));
    }
    ({ x_2, x_3 } = cswap(swap, x_2, x_3));
    ({ x_2: z_2, x_3: z_3 } = cswap(swap, z_2, z_3));
    const z2 = powPminus2(z_2);
    return modP(x_2 * z2);
  }
  const lengths = {
    secretKey: fieldLen2,
    publicKey: fieldLen2,
    seed: fieldLen2
  };
  const randomSecretKey = async (seed) => {
    if (seed === void 0) {
      seed = await randomBytes_(fieldLen2);
    }
    abytes(seed, lengths.seed, "seed");
    return seed;
  };
  const utils = { randomSecretKey };
  return Object.freeze({
    keygen: createKeygen(randomSecretKey, getPublicKey),
    getSharedSecret,
    getPublicKey,
    scalarMult,
    scalarMultBase,
    utils,
    GuBytes: GuBytes.slice(),
    lengths
  });
}

// node_modules/@hpke/core/esm/src/aeads/aesGcm.js
var AesGcmContext = class extends NativeAlgorithm {
  constructor(key) {
    super();
    Object.defineProperty(this, "_rawKey", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_key", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._rawKey = toArrayBuffer(key);
  }
  async seal(iv, data, aad) {
    await this._setupKey();
    const alg = {
      name: "AES-GCM",
      iv: toArrayBuffer(iv),
      additionalData: toArrayBuffer(aad)
    };
    const ct = await this._api.encrypt(alg, this._key, toArrayBuffer(data));
    return ct;
  }
  async open(iv, data, aad) {
    await this._setupKey();
    const alg = {
      name: "AES-GCM",
      iv: toArrayBuffer(iv),
      additionalData: toArrayBuffer(aad)
    };
    const pt = await this._api.decrypt(alg, this._key, toArrayBuffer(data));
    return pt;
  }
  async _setupKey() {
    if (this._key !== void 0) {
      return;
    }
    await this._setup();
    const key = await this._importKey(this._rawKey);
    new Uint8Array(this._rawKey).fill(0);
    this._key = key;
    return;
  }
  async _importKey(key) {
    return await this._api.importKey("raw", key, { name: "AES-GCM" }, true, AEAD_USAGES);
  }
};
var Aes128Gcm = class {
  constructor() {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: AeadId.Aes128Gcm
    });
    Object.defineProperty(this, "keySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
    Object.defineProperty(this, "nonceSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 12
    });
    Object.defineProperty(this, "tagSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
  }
  createEncryptionContext(key) {
    return new AesGcmContext(key);
  }
};
var Aes256Gcm = class extends Aes128Gcm {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: AeadId.Aes256Gcm
    });
    Object.defineProperty(this, "keySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "nonceSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 12
    });
    Object.defineProperty(this, "tagSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
  }
};

// node_modules/@hpke/core/esm/src/utils/emitNotSupported.js
function emitNotSupported() {
  return new Promise((_resolve, reject) => {
    reject(new NotSupportedError("Not supported"));
  });
}

// node_modules/@hpke/core/esm/src/exporterContext.js
var LABEL_SEC = new Uint8Array([115, 101, 99]);
var ExporterContextImpl = class {
  constructor(api, kdf, exporterSecret) {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "exporterSecret", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._api = api;
    this._kdf = kdf;
    this.exporterSecret = exporterSecret;
  }
  async seal(_data, _aad) {
    return await emitNotSupported();
  }
  async open(_data, _aad) {
    return await emitNotSupported();
  }
  async export(exporterContext, len) {
    const rawExporterContext = toArrayBuffer(exporterContext);
    if (rawExporterContext.byteLength > INPUT_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long exporter context");
    }
    try {
      return await this._kdf.labeledExpand(this.exporterSecret, LABEL_SEC, new Uint8Array(rawExporterContext), len);
    } catch (e) {
      throw new ExportError(e);
    }
  }
};
var RecipientExporterContextImpl = class extends ExporterContextImpl {
};
var SenderExporterContextImpl = class extends ExporterContextImpl {
  constructor(api, kdf, exporterSecret, enc3) {
    super(api, kdf, exporterSecret);
    Object.defineProperty(this, "enc", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.enc = enc3;
    return;
  }
};

// node_modules/@hpke/core/esm/src/encryptionContext.js
var EncryptionContextImpl = class extends ExporterContextImpl {
  constructor(api, kdf, params) {
    super(api, kdf, params.exporterSecret);
    Object.defineProperty(this, "_aead", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nK", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nN", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nT", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_ctx", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    if (params.key === void 0 || params.baseNonce === void 0 || params.seq === void 0) {
      throw new Error("Required parameters are missing");
    }
    this._aead = params.aead;
    this._nK = this._aead.keySize;
    this._nN = this._aead.nonceSize;
    this._nT = this._aead.tagSize;
    const key = this._aead.createEncryptionContext(params.key);
    this._ctx = {
      key,
      baseNonce: params.baseNonce,
      seq: params.seq
    };
  }
  computeNonce(k) {
    const seqBytes = i2Osp(k.seq, k.baseNonce.byteLength);
    return xor(k.baseNonce, seqBytes).buffer;
  }
  incrementSeq(k) {
    if (k.seq > Number.MAX_SAFE_INTEGER) {
      throw new MessageLimitReachedError("Message limit reached");
    }
    k.seq += 1;
    return;
  }
};

// node_modules/@hpke/core/esm/src/mutex.js
var __classPrivateFieldGet = function(receiver, state2, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state2 === "function" ? receiver !== state2 || !f : !state2.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state2.get(receiver);
};
var __classPrivateFieldSet = function(receiver, state2, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state2 === "function" ? receiver !== state2 || !f : !state2.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state2.set(receiver, value), value;
};
var _Mutex_locked;
var Mutex = class {
  constructor() {
    _Mutex_locked.set(this, Promise.resolve());
  }
  async lock() {
    let releaseLock;
    const nextLock = new Promise((resolve) => {
      releaseLock = resolve;
    });
    const previousLock = __classPrivateFieldGet(this, _Mutex_locked, "f");
    __classPrivateFieldSet(this, _Mutex_locked, nextLock, "f");
    await previousLock;
    return releaseLock;
  }
};
_Mutex_locked = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/recipientContext.js
var __classPrivateFieldGet2 = function(receiver, state2, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state2 === "function" ? receiver !== state2 || !f : !state2.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state2.get(receiver);
};
var __classPrivateFieldSet2 = function(receiver, state2, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state2 === "function" ? receiver !== state2 || !f : !state2.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state2.set(receiver, value), value;
};
var _RecipientContextImpl_mutex;
var RecipientContextImpl = class extends EncryptionContextImpl {
  constructor() {
    super(...arguments);
    _RecipientContextImpl_mutex.set(this, void 0);
  }
  async open(data, aad = EMPTY2.buffer) {
    __classPrivateFieldSet2(this, _RecipientContextImpl_mutex, __classPrivateFieldGet2(this, _RecipientContextImpl_mutex, "f") ?? new Mutex(), "f");
    const release = await __classPrivateFieldGet2(this, _RecipientContextImpl_mutex, "f").lock();
    let pt;
    try {
      pt = await this._ctx.key.open(this.computeNonce(this._ctx), toArrayBuffer(data), toArrayBuffer(aad));
    } catch (e) {
      throw new OpenError(e);
    } finally {
      release();
    }
    this.incrementSeq(this._ctx);
    return pt;
  }
};
_RecipientContextImpl_mutex = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/senderContext.js
var __classPrivateFieldGet3 = function(receiver, state2, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state2 === "function" ? receiver !== state2 || !f : !state2.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state2.get(receiver);
};
var __classPrivateFieldSet3 = function(receiver, state2, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state2 === "function" ? receiver !== state2 || !f : !state2.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state2.set(receiver, value), value;
};
var _SenderContextImpl_mutex;
var SenderContextImpl = class extends EncryptionContextImpl {
  constructor(api, kdf, params, enc3) {
    super(api, kdf, params);
    Object.defineProperty(this, "enc", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    _SenderContextImpl_mutex.set(this, void 0);
    this.enc = enc3;
  }
  async seal(data, aad = EMPTY2.buffer) {
    __classPrivateFieldSet3(this, _SenderContextImpl_mutex, __classPrivateFieldGet3(this, _SenderContextImpl_mutex, "f") ?? new Mutex(), "f");
    const release = await __classPrivateFieldGet3(this, _SenderContextImpl_mutex, "f").lock();
    let ct;
    try {
      ct = await this._ctx.key.seal(this.computeNonce(this._ctx), toArrayBuffer(data), toArrayBuffer(aad));
    } catch (e) {
      throw new SealError(e);
    } finally {
      release();
    }
    this.incrementSeq(this._ctx);
    return ct;
  }
};
_SenderContextImpl_mutex = /* @__PURE__ */ new WeakMap();

// node_modules/@hpke/core/esm/src/cipherSuiteNative.js
var LABEL_BASE_NONCE = new Uint8Array([
  98,
  97,
  115,
  101,
  95,
  110,
  111,
  110,
  99,
  101
]);
var LABEL_EXP = new Uint8Array([101, 120, 112]);
var LABEL_INFO_HASH = new Uint8Array([
  105,
  110,
  102,
  111,
  95,
  104,
  97,
  115,
  104
]);
var LABEL_KEY = new Uint8Array([107, 101, 121]);
var LABEL_PSK_ID_HASH = new Uint8Array([
  112,
  115,
  107,
  95,
  105,
  100,
  95,
  104,
  97,
  115,
  104
]);
var LABEL_SECRET = new Uint8Array([115, 101, 99, 114, 101, 116]);
var SUITE_ID_HEADER_HPKE = new Uint8Array([
  72,
  80,
  75,
  69,
  0,
  0,
  0,
  0,
  0,
  0
]);
var CipherSuiteNative = class extends NativeAlgorithm {
  /**
   * @param params A set of parameters for building a cipher suite.
   *
   * If the error occurred, throws {@link InvalidParamError}.
   *
   * @throws {@link InvalidParamError}
   */
  constructor(params) {
    super();
    Object.defineProperty(this, "_kem", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_aead", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_suiteId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    if (typeof params.kem === "number") {
      throw new InvalidParamError("KemId cannot be used");
    }
    this._kem = params.kem;
    if (typeof params.kdf === "number") {
      throw new InvalidParamError("KdfId cannot be used");
    }
    this._kdf = params.kdf;
    if (typeof params.aead === "number") {
      throw new InvalidParamError("AeadId cannot be used");
    }
    this._aead = params.aead;
    this._suiteId = new Uint8Array(SUITE_ID_HEADER_HPKE);
    this._suiteId.set(i2Osp(this._kem.id, 2), 4);
    this._suiteId.set(i2Osp(this._kdf.id, 2), 6);
    this._suiteId.set(i2Osp(this._aead.id, 2), 8);
    this._kdf.init(this._suiteId);
  }
  /**
   * Gets the KEM context of the ciphersuite.
   */
  get kem() {
    return this._kem;
  }
  /**
   * Gets the KDF context of the ciphersuite.
   */
  get kdf() {
    return this._kdf;
  }
  /**
   * Gets the AEAD context of the ciphersuite.
   */
  get aead() {
    return this._aead;
  }
  /**
   * Creates an encryption context for a sender.
   *
   * If the error occurred, throws {@link DecapError} | {@link ValidationError}.
   *
   * @param params A set of parameters for the sender encryption context.
   * @returns A sender encryption context.
   * @throws {@link EncapError}, {@link ValidationError}
   */
  async createSenderContext(params) {
    this._validateInputLength(params);
    await this._setup();
    const dh = await this._kem.encap(params);
    let mode;
    if (params.psk !== void 0) {
      mode = params.senderKey !== void 0 ? Mode.AuthPsk : Mode.Psk;
    } else {
      mode = params.senderKey !== void 0 ? Mode.Auth : Mode.Base;
    }
    return await this._keyScheduleS(mode, dh.sharedSecret, dh.enc, params);
  }
  /**
   * Creates an encryption context for a recipient.
   *
   * If the error occurred, throws {@link DecapError}
   * | {@link DeserializeError} | {@link ValidationError}.
   *
   * @param params A set of parameters for the recipient encryption context.
   * @returns A recipient encryption context.
   * @throws {@link DecapError}, {@link DeserializeError}, {@link ValidationError}
   */
  async createRecipientContext(params) {
    this._validateInputLength(params);
    await this._setup();
    const sharedSecret = await this._kem.decap(params);
    let mode;
    if (params.psk !== void 0) {
      mode = params.senderPublicKey !== void 0 ? Mode.AuthPsk : Mode.Psk;
    } else {
      mode = params.senderPublicKey !== void 0 ? Mode.Auth : Mode.Base;
    }
    return await this._keyScheduleR(mode, sharedSecret, params);
  }
  /**
   * Encrypts a message to a recipient.
   *
   * If the error occurred, throws `EncapError` | `MessageLimitReachedError` | `SealError` | `ValidationError`.
   *
   * @param params A set of parameters for building a sender encryption context.
   * @param pt A plain text as bytes to be encrypted.
   * @param aad Additional authenticated data as bytes fed by an application.
   * @returns A cipher text and an encapsulated key as bytes.
   * @throws {@link EncapError}, {@link MessageLimitReachedError}, {@link SealError}, {@link ValidationError}
   */
  async seal(params, pt, aad = EMPTY2.buffer) {
    const ctx = await this.createSenderContext(params);
    return {
      ct: await ctx.seal(pt, aad),
      enc: ctx.enc
    };
  }
  /**
   * Decrypts a message from a sender.
   *
   * If the error occurred, throws `DecapError` | `DeserializeError` | `OpenError` | `ValidationError`.
   *
   * @param params A set of parameters for building a recipient encryption context.
   * @param ct An encrypted text as bytes to be decrypted.
   * @param aad Additional authenticated data as bytes fed by an application.
   * @returns A decrypted plain text as bytes.
   * @throws {@link DecapError}, {@link DeserializeError}, {@link OpenError}, {@link ValidationError}
   */
  async open(params, ct, aad = EMPTY2.buffer) {
    const ctx = await this.createRecipientContext(params);
    return await ctx.open(ct, aad);
  }
  // private verifyPskInputs(mode: Mode, params: KeyScheduleParams) {
  //   const gotPsk = (params.psk !== undefined);
  //   const gotPskId = (params.psk !== undefined && params.psk.id.byteLength > 0);
  //   if (gotPsk !== gotPskId) {
  //     throw new Error('Inconsistent PSK inputs');
  //   }
  //   if (gotPsk && (mode === Mode.Base || mode === Mode.Auth)) {
  //     throw new Error('PSK input provided when not needed');
  //   }
  //   if (!gotPsk && (mode === Mode.Psk || mode === Mode.AuthPsk)) {
  //     throw new Error('Missing required PSK input');
  //   }
  //   return;
  // }
  async _keySchedule(mode, sharedSecret, params) {
    const pskId = params.psk === void 0 ? EMPTY2 : toUint8Array(params.psk.id);
    const pskIdHash = await this._kdf.labeledExtract(EMPTY2, LABEL_PSK_ID_HASH, pskId);
    const info = params.info === void 0 ? EMPTY2 : toUint8Array(params.info);
    const infoHash = await this._kdf.labeledExtract(EMPTY2, LABEL_INFO_HASH, info);
    const keyScheduleContext = new Uint8Array(1 + pskIdHash.byteLength + infoHash.byteLength);
    keyScheduleContext.set(new Uint8Array([mode]), 0);
    keyScheduleContext.set(new Uint8Array(pskIdHash), 1);
    keyScheduleContext.set(new Uint8Array(infoHash), 1 + pskIdHash.byteLength);
    const psk = params.psk === void 0 ? EMPTY2 : toUint8Array(params.psk.key);
    const ikm = this._kdf.buildLabeledIkm(LABEL_SECRET, psk);
    const exporterSecretInfo = this._kdf.buildLabeledInfo(LABEL_EXP, keyScheduleContext, this._kdf.hashSize);
    const exporterSecret = await this._kdf.extractAndExpand(sharedSecret, ikm, exporterSecretInfo, this._kdf.hashSize);
    if (this._aead.id === AeadId.ExportOnly) {
      return { aead: this._aead, exporterSecret };
    }
    const keyInfo = this._kdf.buildLabeledInfo(LABEL_KEY, keyScheduleContext, this._aead.keySize);
    const key = await this._kdf.extractAndExpand(sharedSecret, ikm, keyInfo, this._aead.keySize);
    const baseNonceInfo = this._kdf.buildLabeledInfo(LABEL_BASE_NONCE, keyScheduleContext, this._aead.nonceSize);
    const baseNonce = await this._kdf.extractAndExpand(sharedSecret, ikm, baseNonceInfo, this._aead.nonceSize);
    return {
      aead: this._aead,
      exporterSecret,
      key,
      baseNonce: new Uint8Array(baseNonce),
      seq: 0
    };
  }
  async _keyScheduleS(mode, sharedSecret, enc3, params) {
    const res = await this._keySchedule(mode, sharedSecret, params);
    if (res.key === void 0) {
      return new SenderExporterContextImpl(this._api, this._kdf, res.exporterSecret, enc3);
    }
    return new SenderContextImpl(this._api, this._kdf, res, enc3);
  }
  async _keyScheduleR(mode, sharedSecret, params) {
    const res = await this._keySchedule(mode, sharedSecret, params);
    if (res.key === void 0) {
      return new RecipientExporterContextImpl(this._api, this._kdf, res.exporterSecret);
    }
    return new RecipientContextImpl(this._api, this._kdf, res);
  }
  _validateInputLength(params) {
    if (params.info !== void 0 && params.info.byteLength > INFO_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long info");
    }
    if (params.psk !== void 0) {
      if (params.psk.key.byteLength < MINIMUM_PSK_LENGTH) {
        throw new InvalidParamError(`PSK must have at least ${MINIMUM_PSK_LENGTH} bytes`);
      }
      if (params.psk.key.byteLength > INPUT_LENGTH_LIMIT) {
        throw new InvalidParamError("Too long psk.key");
      }
      if (params.psk.id.byteLength > INPUT_LENGTH_LIMIT) {
        throw new InvalidParamError("Too long psk.id");
      }
    }
    return;
  }
};

// node_modules/@hpke/core/esm/src/native.js
var CipherSuite = class extends CipherSuiteNative {
};
var HkdfSha256 = class extends HkdfSha256Native {
};

// node_modules/@hpke/core/esm/src/kems/dhkemPrimitives/x25519.js
var ALG_NAME = "X25519";
var PKCS8_ALG_ID_X25519 = new Uint8Array([
  48,
  46,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  110,
  4,
  34,
  4,
  32
]);
var BASE_POINT_X25519 = /* @__PURE__ */ (() => {
  const p = new Uint8Array(32);
  p[0] = 9;
  return p;
})();
var X25519 = class extends NativeAlgorithm {
  constructor(hkdf2) {
    super();
    Object.defineProperty(this, "_hkdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_alg", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nPk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nSk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nDh", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_pkcs8AlgId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._alg = { name: ALG_NAME };
    this._hkdf = hkdf2;
    this._nPk = 32;
    this._nSk = 32;
    this._nDh = 32;
    this._pkcs8AlgId = PKCS8_ALG_ID_X25519;
  }
  async serializePublicKey(key) {
    await this._setup();
    try {
      return await this._api.exportKey("raw", key);
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePublicKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), true);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async serializePrivateKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      if (!("d" in jwk)) {
        throw new Error("Not private key");
      }
      return base64UrlToBytes(jwk["d"]).buffer;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePrivateKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), false);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async importKey(format, key, isPublic) {
    await this._setup();
    try {
      if (format === "raw") {
        return await this._importRawKey(key, isPublic);
      }
      if (key instanceof ArrayBuffer) {
        throw new Error("Invalid jwk key format");
      }
      return await this._importJWK(key, isPublic);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async generateKeyPair() {
    await this._setup();
    try {
      return await this._api.generateKey(ALG_NAME, true, KEM_USAGES);
    } catch (e) {
      throw new NotSupportedError(e);
    }
  }
  async deriveKeyPair(ikm) {
    await this._setup();
    try {
      const rawIkm = toArrayBuffer(ikm);
      const dkpPrk = await this._hkdf.labeledExtract(EMPTY2, LABEL_DKP_PRK, new Uint8Array(rawIkm));
      const rawSk = await this._hkdf.labeledExpand(dkpPrk, LABEL_SK, EMPTY2, this._nSk);
      const rawSkBytes = new Uint8Array(rawSk);
      const sk = await this._deserializePkcs8Key(rawSkBytes);
      rawSkBytes.fill(0);
      return {
        privateKey: sk,
        publicKey: await this.derivePublicKey(sk)
      };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  async derivePublicKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      delete jwk["d"];
      delete jwk["key_ops"];
      return await this._api.importKey("jwk", jwk, this._alg, true, []);
    } catch {
      try {
        const bp = await this._api.importKey("raw", BASE_POINT_X25519.buffer, this._alg, true, []);
        const bits = await this._api.deriveBits({
          name: ALG_NAME,
          public: bp
        }, key, this._nPk * 8);
        return await this._api.importKey("raw", bits, this._alg, true, []);
      } catch (e) {
        throw new DeserializeError(e);
      }
    }
  }
  async dh(sk, pk) {
    await this._setup();
    try {
      const bits = await this._api.deriveBits({
        name: ALG_NAME,
        public: pk
      }, sk, this._nDh * 8);
      return bits;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async _importRawKey(key, isPublic) {
    if (isPublic && key.byteLength !== this._nPk) {
      throw new Error("Invalid public key for the ciphersuite");
    }
    if (!isPublic && key.byteLength !== this._nSk) {
      throw new Error("Invalid private key for the ciphersuite");
    }
    if (isPublic) {
      return await this._api.importKey("raw", key, this._alg, true, []);
    }
    return await this._deserializePkcs8Key(new Uint8Array(key));
  }
  async _importJWK(key, isPublic) {
    if (typeof key.kty === "undefined" || key.kty !== "OKP") {
      throw new Error(`Invalid kty: ${key.crv}`);
    }
    if (typeof key.crv === "undefined" || key.crv !== ALG_NAME) {
      throw new Error(`Invalid crv: ${key.crv}`);
    }
    if (isPublic) {
      if (typeof key.d !== "undefined") {
        throw new Error("Invalid key: `d` should not be set");
      }
      return await this._api.importKey("jwk", key, this._alg, true, []);
    }
    if (typeof key.d === "undefined") {
      throw new Error("Invalid key: `d` not found");
    }
    return await this._api.importKey("jwk", key, this._alg, true, KEM_USAGES);
  }
  async _deserializePkcs8Key(k) {
    const pkcs8Key = new Uint8Array(this._pkcs8AlgId.length + k.length);
    pkcs8Key.set(this._pkcs8AlgId, 0);
    pkcs8Key.set(k, this._pkcs8AlgId.length);
    return await this._api.importKey("pkcs8", pkcs8Key, this._alg, true, KEM_USAGES);
  }
};

// node_modules/@hpke/core/esm/src/kems/dhkemX25519.js
var DhkemX25519HkdfSha256 = class extends Dhkem {
  constructor() {
    const kdf = new HkdfSha256Native();
    super(KemId.DhkemX25519HkdfSha256, new X25519(kdf), kdf);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KemId.DhkemX25519HkdfSha256
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
  }
};

// node_modules/@hpke/core/esm/src/kems/dhkemPrimitives/x448.js
var PKCS8_ALG_ID_X448 = new Uint8Array([
  48,
  70,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  111,
  4,
  58,
  4,
  56
]);

// node_modules/mlkem/esm/src/errors.js
var MlKemError = class extends Error {
  constructor(e) {
    let message;
    if (e instanceof Error) {
      message = e.message;
    } else if (typeof e === "string") {
      message = e;
    } else {
      message = "";
    }
    super(message);
    this.name = this.constructor.name;
  }
};

// node_modules/mlkem/esm/src/consts.js
var N = 256;
var Q = 3329;
var Q_INV = 62209;
var NTT_ZETAS = [
  2285,
  2571,
  2970,
  1812,
  1493,
  1422,
  287,
  202,
  3158,
  622,
  1577,
  182,
  962,
  2127,
  1855,
  1468,
  573,
  2004,
  264,
  383,
  2500,
  1458,
  1727,
  3199,
  2648,
  1017,
  732,
  608,
  1787,
  411,
  3124,
  1758,
  1223,
  652,
  2777,
  1015,
  2036,
  1491,
  3047,
  1785,
  516,
  3321,
  3009,
  2663,
  1711,
  2167,
  126,
  1469,
  2476,
  3239,
  3058,
  830,
  107,
  1908,
  3082,
  2378,
  2931,
  961,
  1821,
  2604,
  448,
  2264,
  677,
  2054,
  2226,
  430,
  555,
  843,
  2078,
  871,
  1550,
  105,
  422,
  587,
  177,
  3094,
  3038,
  2869,
  1574,
  1653,
  3083,
  778,
  1159,
  3182,
  2552,
  1483,
  2727,
  1119,
  1739,
  644,
  2457,
  349,
  418,
  329,
  3173,
  3254,
  817,
  1097,
  603,
  610,
  1322,
  2044,
  1864,
  384,
  2114,
  3193,
  1218,
  1994,
  2455,
  220,
  2142,
  1670,
  2144,
  1799,
  2051,
  794,
  1819,
  2475,
  2459,
  478,
  3221,
  3021,
  996,
  991,
  958,
  1869,
  1522,
  1628
];
var NTT_ZETAS_INV = [
  1701,
  1807,
  1460,
  2371,
  2338,
  2333,
  308,
  108,
  2851,
  870,
  854,
  1510,
  2535,
  1278,
  1530,
  1185,
  1659,
  1187,
  3109,
  874,
  1335,
  2111,
  136,
  1215,
  2945,
  1465,
  1285,
  2007,
  2719,
  2726,
  2232,
  2512,
  75,
  156,
  3e3,
  2911,
  2980,
  872,
  2685,
  1590,
  2210,
  602,
  1846,
  777,
  147,
  2170,
  2551,
  246,
  1676,
  1755,
  460,
  291,
  235,
  3152,
  2742,
  2907,
  3224,
  1779,
  2458,
  1251,
  2486,
  2774,
  2899,
  1103,
  1275,
  2652,
  1065,
  2881,
  725,
  1508,
  2368,
  398,
  951,
  247,
  1421,
  3222,
  2499,
  271,
  90,
  853,
  1860,
  3203,
  1162,
  1618,
  666,
  320,
  8,
  2813,
  1544,
  282,
  1838,
  1293,
  2314,
  552,
  2677,
  2106,
  1571,
  205,
  2918,
  1542,
  2721,
  2597,
  2312,
  681,
  130,
  1602,
  1871,
  829,
  2946,
  3065,
  1325,
  2756,
  1861,
  1474,
  1202,
  2367,
  3147,
  1752,
  2707,
  171,
  3127,
  3042,
  1907,
  1836,
  1517,
  359,
  758,
  1441
];

// node_modules/mlkem/esm/src/sha3/_u64.js
var U32_MASK642 = 0xffffffffn;
var _32n2 = 32n;
function fromBig2(n, le = false) {
  if (le) {
    return { h: Number(n & U32_MASK642), l: Number(n >> _32n2 & U32_MASK642) };
  }
  return {
    h: Number(n >> _32n2 & U32_MASK642) | 0,
    l: Number(n & U32_MASK642) | 0
  };
}
function split2(lst, le = false) {
  const len = lst.length;
  const Ah = new Uint32Array(len);
  const Al = new Uint32Array(len);
  for (let i = 0; i < len; i++) {
    const { h, l } = fromBig2(lst[i], le);
    [Ah[i], Al[i]] = [h, l];
  }
  return [Ah, Al];
}
var rotlSH2 = (h, l, s) => h << s | l >>> 32 - s;
var rotlSL2 = (h, l, s) => l << s | h >>> 32 - s;
var rotlBH2 = (h, l, s) => l << s - 32 | h >>> 64 - s;
var rotlBL2 = (h, l, s) => h << s - 32 | l >>> 64 - s;

// node_modules/mlkem/esm/src/sha3/utils.js
function isBytes2(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array";
}
function anumber2(n, title = "") {
  if (!Number.isSafeInteger(n) || n < 0) {
    const prefix = title && `"${title}" `;
    throw new Error(`${prefix}expected integer >0, got ${n}`);
  }
}
function abytes2(value, length, title = "") {
  const bytes3 = isBytes2(value);
  const len = value?.length;
  const needsLen = length !== void 0;
  if (!bytes3 || needsLen && len !== length) {
    const prefix = title && `"${title}" `;
    const ofLen = needsLen ? ` of length ${length}` : "";
    const got = bytes3 ? `length=${len}` : `type=${typeof value}`;
    throw new Error(prefix + "expected Uint8Array" + ofLen + ", got " + got);
  }
  return value;
}
function aexists2(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("Hash instance has been destroyed");
  if (checkFinished && instance.finished) {
    throw new Error("Hash#digest() has already been called");
  }
}
function aoutput2(out, instance) {
  abytes2(out, void 0, "digestInto() output");
  const min = instance.outputLen;
  if (out.length < min) {
    throw new Error('"digestInto() output" expected to be of length >=' + min);
  }
}
function u322(arr) {
  return new Uint32Array(arr.buffer, arr.byteOffset, Math.floor(arr.byteLength / 4));
}
function clean2(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
var isLE2 = /* @__PURE__ */ (() => new Uint8Array(new Uint32Array([287454020]).buffer)[0] === 68)();
function byteSwap(word) {
  return word << 24 & 4278190080 | word << 8 & 16711680 | word >>> 8 & 65280 | word >>> 24 & 255;
}
function byteSwap32(arr) {
  for (let i = 0; i < arr.length; i++) {
    arr[i] = byteSwap(arr[i]);
  }
  return arr;
}
var swap32IfBE2 = isLE2 ? (u) => u : byteSwap32;
function createHasher2(hashCons, info = {}) {
  const hashC = (msg, opts) => hashCons(opts).update(msg).digest();
  const tmp = hashCons(void 0);
  hashC.outputLen = tmp.outputLen;
  hashC.blockLen = tmp.blockLen;
  hashC.create = (opts) => hashCons(opts);
  Object.assign(hashC, info);
  return Object.freeze(hashC);
}
var oidNist2 = (suffix) => ({
  oid: Uint8Array.from([
    6,
    9,
    96,
    134,
    72,
    1,
    101,
    3,
    4,
    2,
    suffix
  ])
});

// node_modules/mlkem/esm/src/sha3/sha3.js
var _0n2 = 0n;
var _1n2 = 1n;
var _2n2 = 2n;
var _7n2 = 7n;
var _256n2 = 256n;
var _0x71n2 = 0x71n;
var SHA3_PI2 = [];
var SHA3_ROTL2 = [];
var _SHA3_IOTA2 = [];
for (let round = 0, R = _1n2, x = 1, y = 0; round < 24; round++) {
  [x, y] = [y, (2 * x + 3 * y) % 5];
  SHA3_PI2.push(2 * (5 * y + x));
  SHA3_ROTL2.push((round + 1) * (round + 2) / 2 % 64);
  let t = _0n2;
  for (let j = 0; j < 7; j++) {
    R = (R << _1n2 ^ (R >> _7n2) * _0x71n2) % _256n2;
    if (R & _2n2)
      t ^= _1n2 << (_1n2 << BigInt(j)) - _1n2;
  }
  _SHA3_IOTA2.push(t);
}
var IOTAS2 = split2(_SHA3_IOTA2, true);
var SHA3_IOTA_H2 = IOTAS2[0];
var SHA3_IOTA_L2 = IOTAS2[1];
var rotlH = (h, l, s) => s > 32 ? rotlBH2(h, l, s) : rotlSH2(h, l, s);
var rotlL = (h, l, s) => s > 32 ? rotlBL2(h, l, s) : rotlSL2(h, l, s);
function keccakP(s, rounds = 24, B) {
  if (!B)
    B = new Uint32Array(10);
  for (let round = 24 - rounds; round < 24; round++) {
    for (let x = 0; x < 10; x++) {
      B[x] = s[x] ^ s[x + 10] ^ s[x + 20] ^ s[x + 30] ^ s[x + 40];
    }
    {
      const Th2 = rotlH(B[2], B[3], 1) ^ B[8];
      const Tl2 = rotlL(B[2], B[3], 1) ^ B[9];
      s[0] ^= Th2;
      s[1] ^= Tl2;
      s[10] ^= Th2;
      s[11] ^= Tl2;
      s[20] ^= Th2;
      s[21] ^= Tl2;
      s[30] ^= Th2;
      s[31] ^= Tl2;
      s[40] ^= Th2;
      s[41] ^= Tl2;
    }
    {
      const Th2 = rotlH(B[4], B[5], 1) ^ B[0];
      const Tl2 = rotlL(B[4], B[5], 1) ^ B[1];
      s[2] ^= Th2;
      s[3] ^= Tl2;
      s[12] ^= Th2;
      s[13] ^= Tl2;
      s[22] ^= Th2;
      s[23] ^= Tl2;
      s[32] ^= Th2;
      s[33] ^= Tl2;
      s[42] ^= Th2;
      s[43] ^= Tl2;
    }
    {
      const Th2 = rotlH(B[6], B[7], 1) ^ B[2];
      const Tl2 = rotlL(B[6], B[7], 1) ^ B[3];
      s[4] ^= Th2;
      s[5] ^= Tl2;
      s[14] ^= Th2;
      s[15] ^= Tl2;
      s[24] ^= Th2;
      s[25] ^= Tl2;
      s[34] ^= Th2;
      s[35] ^= Tl2;
      s[44] ^= Th2;
      s[45] ^= Tl2;
    }
    {
      const Th2 = rotlH(B[8], B[9], 1) ^ B[4];
      const Tl2 = rotlL(B[8], B[9], 1) ^ B[5];
      s[6] ^= Th2;
      s[7] ^= Tl2;
      s[16] ^= Th2;
      s[17] ^= Tl2;
      s[26] ^= Th2;
      s[27] ^= Tl2;
      s[36] ^= Th2;
      s[37] ^= Tl2;
      s[46] ^= Th2;
      s[47] ^= Tl2;
    }
    {
      const Th2 = rotlH(B[0], B[1], 1) ^ B[6];
      const Tl2 = rotlL(B[0], B[1], 1) ^ B[7];
      s[8] ^= Th2;
      s[9] ^= Tl2;
      s[18] ^= Th2;
      s[19] ^= Tl2;
      s[28] ^= Th2;
      s[29] ^= Tl2;
      s[38] ^= Th2;
      s[39] ^= Tl2;
      s[48] ^= Th2;
      s[49] ^= Tl2;
    }
    let curH = s[2];
    let curL = s[3];
    let Th, Tl;
    Th = rotlSH2(curH, curL, 1);
    Tl = rotlSL2(curH, curL, 1);
    curH = s[20];
    curL = s[21];
    s[20] = Th;
    s[21] = Tl;
    Th = rotlSH2(curH, curL, 3);
    Tl = rotlSL2(curH, curL, 3);
    curH = s[14];
    curL = s[15];
    s[14] = Th;
    s[15] = Tl;
    Th = rotlSH2(curH, curL, 6);
    Tl = rotlSL2(curH, curL, 6);
    curH = s[22];
    curL = s[23];
    s[22] = Th;
    s[23] = Tl;
    Th = rotlSH2(curH, curL, 10);
    Tl = rotlSL2(curH, curL, 10);
    curH = s[34];
    curL = s[35];
    s[34] = Th;
    s[35] = Tl;
    Th = rotlSH2(curH, curL, 15);
    Tl = rotlSL2(curH, curL, 15);
    curH = s[36];
    curL = s[37];
    s[36] = Th;
    s[37] = Tl;
    Th = rotlSH2(curH, curL, 21);
    Tl = rotlSL2(curH, curL, 21);
    curH = s[6];
    curL = s[7];
    s[6] = Th;
    s[7] = Tl;
    Th = rotlSH2(curH, curL, 28);
    Tl = rotlSL2(curH, curL, 28);
    curH = s[10];
    curL = s[11];
    s[10] = Th;
    s[11] = Tl;
    Th = rotlBH2(curH, curL, 36);
    Tl = rotlBL2(curH, curL, 36);
    curH = s[32];
    curL = s[33];
    s[32] = Th;
    s[33] = Tl;
    Th = rotlBH2(curH, curL, 45);
    Tl = rotlBL2(curH, curL, 45);
    curH = s[16];
    curL = s[17];
    s[16] = Th;
    s[17] = Tl;
    Th = rotlBH2(curH, curL, 55);
    Tl = rotlBL2(curH, curL, 55);
    curH = s[42];
    curL = s[43];
    s[42] = Th;
    s[43] = Tl;
    Th = rotlSH2(curH, curL, 2);
    Tl = rotlSL2(curH, curL, 2);
    curH = s[48];
    curL = s[49];
    s[48] = Th;
    s[49] = Tl;
    Th = rotlSH2(curH, curL, 14);
    Tl = rotlSL2(curH, curL, 14);
    curH = s[8];
    curL = s[9];
    s[8] = Th;
    s[9] = Tl;
    Th = rotlSH2(curH, curL, 27);
    Tl = rotlSL2(curH, curL, 27);
    curH = s[30];
    curL = s[31];
    s[30] = Th;
    s[31] = Tl;
    Th = rotlBH2(curH, curL, 41);
    Tl = rotlBL2(curH, curL, 41);
    curH = s[46];
    curL = s[47];
    s[46] = Th;
    s[47] = Tl;
    Th = rotlBH2(curH, curL, 56);
    Tl = rotlBL2(curH, curL, 56);
    curH = s[38];
    curL = s[39];
    s[38] = Th;
    s[39] = Tl;
    Th = rotlSH2(curH, curL, 8);
    Tl = rotlSL2(curH, curL, 8);
    curH = s[26];
    curL = s[27];
    s[26] = Th;
    s[27] = Tl;
    Th = rotlSH2(curH, curL, 25);
    Tl = rotlSL2(curH, curL, 25);
    curH = s[24];
    curL = s[25];
    s[24] = Th;
    s[25] = Tl;
    Th = rotlBH2(curH, curL, 43);
    Tl = rotlBL2(curH, curL, 43);
    curH = s[4];
    curL = s[5];
    s[4] = Th;
    s[5] = Tl;
    Th = rotlBH2(curH, curL, 62);
    Tl = rotlBL2(curH, curL, 62);
    curH = s[40];
    curL = s[41];
    s[40] = Th;
    s[41] = Tl;
    Th = rotlSH2(curH, curL, 18);
    Tl = rotlSL2(curH, curL, 18);
    curH = s[28];
    curL = s[29];
    s[28] = Th;
    s[29] = Tl;
    Th = rotlBH2(curH, curL, 39);
    Tl = rotlBL2(curH, curL, 39);
    curH = s[44];
    curL = s[45];
    s[44] = Th;
    s[45] = Tl;
    Th = rotlBH2(curH, curL, 61);
    Tl = rotlBL2(curH, curL, 61);
    curH = s[18];
    curL = s[19];
    s[18] = Th;
    s[19] = Tl;
    Th = rotlSH2(curH, curL, 20);
    Tl = rotlSL2(curH, curL, 20);
    curH = s[12];
    curL = s[13];
    s[12] = Th;
    s[13] = Tl;
    Th = rotlBH2(curH, curL, 44);
    Tl = rotlBL2(curH, curL, 44);
    s[2] = Th;
    s[3] = Tl;
    for (let y = 0; y < 50; y += 10) {
      B[0] = s[y];
      B[1] = s[y + 1];
      B[2] = s[y + 2];
      B[3] = s[y + 3];
      B[4] = s[y + 4];
      B[5] = s[y + 5];
      B[6] = s[y + 6];
      B[7] = s[y + 7];
      B[8] = s[y + 8];
      B[9] = s[y + 9];
      s[y + 0] ^= ~B[2] & B[4];
      s[y + 1] ^= ~B[3] & B[5];
      s[y + 2] ^= ~B[4] & B[6];
      s[y + 3] ^= ~B[5] & B[7];
      s[y + 4] ^= ~B[6] & B[8];
      s[y + 5] ^= ~B[7] & B[9];
      s[y + 6] ^= ~B[8] & B[0];
      s[y + 7] ^= ~B[9] & B[1];
      s[y + 8] ^= ~B[0] & B[2];
      s[y + 9] ^= ~B[1] & B[3];
    }
    s[0] ^= SHA3_IOTA_H2[round];
    s[1] ^= SHA3_IOTA_L2[round];
  }
}
var Keccak = class _Keccak {
  // NOTE: we accept arguments in bytes instead of bits here.
  constructor(blockLen, suffix, outputLen, enableXOF = false, rounds = 24) {
    Object.defineProperty(this, "state", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "pos", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "posOut", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "finished", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "state32", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "destroyed", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "_B", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: new Uint32Array(10)
    });
    Object.defineProperty(this, "blockLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "suffix", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "outputLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "enableXOF", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "rounds", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.blockLen = blockLen;
    this.suffix = suffix;
    this.outputLen = outputLen;
    this.enableXOF = enableXOF;
    this.rounds = rounds;
    anumber2(outputLen, "outputLen");
    if (!(0 < blockLen && blockLen < 200)) {
      throw new Error("only keccak-f1600 function is supported");
    }
    this.state = new Uint8Array(200);
    this.state32 = u322(this.state);
  }
  clone() {
    return this._cloneInto();
  }
  /** Resets instance to initial (empty) state for reuse. */
  reset() {
    this.state.fill(0);
    this.pos = 0;
    this.posOut = 0;
    this.finished = false;
    this.destroyed = false;
  }
  keccak() {
    swap32IfBE2(this.state32);
    keccakP(this.state32, this.rounds, this._B);
    swap32IfBE2(this.state32);
    this.posOut = 0;
    this.pos = 0;
  }
  update(data) {
    aexists2(this);
    abytes2(data);
    return this.updateUnsafe(data);
  }
  /** Like update(), but skips validation. Caller must ensure valid state and input. */
  updateUnsafe(data) {
    const { blockLen, state: state2 } = this;
    const len = data.length;
    for (let pos = 0; pos < len; ) {
      const take = Math.min(blockLen - this.pos, len - pos);
      for (let i = 0; i < take; i++)
        state2[this.pos++] ^= data[pos++];
      if (this.pos === blockLen)
        this.keccak();
    }
    return this;
  }
  finish() {
    if (this.finished)
      return;
    this.finished = true;
    const { state: state2, suffix, pos, blockLen } = this;
    state2[pos] ^= suffix;
    if ((suffix & 128) !== 0 && pos === blockLen - 1)
      this.keccak();
    state2[blockLen - 1] ^= 128;
    this.keccak();
  }
  writeInto(out) {
    aexists2(this, false);
    abytes2(out);
    return this.writeIntoUnsafe(out);
  }
  /** Like writeInto(), but skips validation. Caller must ensure valid state and output. */
  writeIntoUnsafe(out) {
    this.finish();
    const bufferOut = this.state;
    const { blockLen } = this;
    for (let pos = 0, len = out.length; pos < len; ) {
      if (this.posOut >= blockLen)
        this.keccak();
      const take = Math.min(blockLen - this.posOut, len - pos);
      out.set(bufferOut.subarray(this.posOut, this.posOut + take), pos);
      this.posOut += take;
      pos += take;
    }
    return out;
  }
  xofInto(out) {
    if (!this.enableXOF) {
      throw new Error("XOF is not possible for this instance");
    }
    return this.writeInto(out);
  }
  xof(bytes3) {
    anumber2(bytes3);
    return this.xofInto(new Uint8Array(bytes3));
  }
  digestInto(out) {
    aoutput2(out, this);
    if (this.finished)
      throw new Error("digest() was already called");
    this.writeInto(out);
    this.destroy();
    return out;
  }
  digest() {
    return this.digestInto(new Uint8Array(this.outputLen));
  }
  destroy() {
    this.destroyed = true;
    clean2(this.state);
  }
  _cloneInto(to) {
    const { blockLen, suffix, outputLen, rounds, enableXOF } = this;
    to ||= new _Keccak(blockLen, suffix, outputLen, enableXOF, rounds);
    to.state32.set(this.state32);
    to.pos = this.pos;
    to.posOut = this.posOut;
    to.finished = this.finished;
    to.rounds = rounds;
    to.suffix = suffix;
    to.outputLen = outputLen;
    to.enableXOF = enableXOF;
    to.destroyed = this.destroyed;
    return to;
  }
};
var genKeccak = (suffix, blockLen, outputLen, info = {}) => createHasher2(() => new Keccak(blockLen, suffix, outputLen), info);
var sha3_2562 = /* @__PURE__ */ genKeccak(
  6,
  136,
  32,
  /* @__PURE__ */ oidNist2(8)
);
var genShake = (suffix, blockLen, outputLen, info = {}) => createHasher2((opts = {}) => new Keccak(blockLen, suffix, opts.dkLen === void 0 ? outputLen : opts.dkLen, true), info);
var shake2562 = /* @__PURE__ */ genShake(31, 136, 32, /* @__PURE__ */ oidNist2(12));

// node_modules/mlkem/esm/_dnt.shims.js
var dntGlobals2 = {};
var dntGlobalThis2 = createMergeProxy2(globalThis, dntGlobals2);
function createMergeProxy2(baseObj, extObj) {
  return new Proxy(baseObj, {
    get(_target, prop, _receiver) {
      if (prop in extObj) {
        return extObj[prop];
      } else {
        return baseObj[prop];
      }
    },
    set(_target, prop, value) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      baseObj[prop] = value;
      return true;
    },
    deleteProperty(_target, prop) {
      let success = false;
      if (prop in extObj) {
        delete extObj[prop];
        success = true;
      }
      if (prop in baseObj) {
        delete baseObj[prop];
        success = true;
      }
      return success;
    },
    ownKeys(_target) {
      const baseKeys = Reflect.ownKeys(baseObj);
      const extKeys = Reflect.ownKeys(extObj);
      const extKeysSet = new Set(extKeys);
      return [...baseKeys.filter((k) => !extKeysSet.has(k)), ...extKeys];
    },
    defineProperty(_target, prop, desc) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      Reflect.defineProperty(baseObj, prop, desc);
      return true;
    },
    getOwnPropertyDescriptor(_target, prop) {
      if (prop in extObj) {
        return Reflect.getOwnPropertyDescriptor(extObj, prop);
      } else {
        return Reflect.getOwnPropertyDescriptor(baseObj, prop);
      }
    },
    has(_target, prop) {
      return prop in extObj || prop in baseObj;
    }
  });
}

// node_modules/mlkem/esm/src/utils.js
function byte(n) {
  return n & 255;
}
function int16(n) {
  return n << 16 >> 16;
}
function uint16(n) {
  return n & 65535;
}
function constantTimeCompare(x, y) {
  if (x.length != y.length) {
    return 0;
  }
  let v = 0;
  for (let i = 0; i < x.length; i++) {
    v |= x[i] ^ y[i];
  }
  let z = ~v & 255;
  z &= z >> 4;
  z &= z >> 2;
  z &= z >> 1;
  return z & 1;
}
function equalUint8Array(x, y) {
  if (x.length != y.length) {
    return false;
  }
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) {
      return false;
    }
  }
  return true;
}
async function loadCrypto2() {
  if (typeof dntGlobalThis2 !== "undefined" && globalThis.crypto !== void 0) {
    return globalThis.crypto;
  }
  try {
    const { webcrypto } = await import("crypto");
    return webcrypto;
  } catch (_e) {
    throw new Error("failed to load Crypto");
  }
}
function byteopsLoad32(x, o = 0) {
  return (x[o] | x[o + 1] << 8 | x[o + 2] << 16 | x[o + 3] << 24) >>> 0;
}

// node_modules/mlkem/esm/src/mlKemBase.js
var MlKemBase = class {
  /**
   * Creates a new instance of the MlKemBase class.
   */
  constructor() {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_k", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_du", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_dv", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_eta1", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_eta2", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_skSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_pkSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_compressedUSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_compressedVSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_poolG", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_poolH", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_poolKdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_poolXof", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_poolPrf1", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_poolPrf2", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_bufG", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: new Uint8Array(64)
    });
    Object.defineProperty(this, "_bufH", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: new Uint8Array(32)
    });
    Object.defineProperty(this, "_bufKdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: new Uint8Array(32)
    });
    Object.defineProperty(this, "_bufXof", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: new Uint8Array(672)
    });
    Object.defineProperty(this, "_bufPrf1", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_bufPrf2", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nonceBuf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: new Uint8Array(1)
    });
    Object.defineProperty(this, "_xofSeed", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: new Uint8Array(34)
    });
    Object.defineProperty(this, "_kBuf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_matrixA", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_noiseVecs", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_polyVec", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_bufPkCheck", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_bufCt", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
  }
  _initPool() {
    this._poolG = new Keccak(72, 6, 64);
    this._poolH = new Keccak(136, 6, 32);
    this._poolKdf = new Keccak(136, 31, 32, true);
    this._poolXof = new Keccak(168, 31, 672, true);
    const prf1Len = this._eta1 * N / 4;
    this._poolPrf1 = new Keccak(136, 31, prf1Len, true);
    this._bufPrf1 = new Uint8Array(prf1Len);
    const prf2Len = this._eta2 * N / 4;
    this._poolPrf2 = new Keccak(136, 31, prf2Len, true);
    this._bufPrf2 = new Uint8Array(prf2Len);
    this._kBuf = new Uint8Array([this._k]);
    this._matrixA = new Array(this._k);
    for (let i = 0; i < this._k; i++) {
      this._matrixA[i] = new Array(this._k);
      for (let j = 0; j < this._k; j++) {
        this._matrixA[i][j] = new Int16Array(N);
      }
    }
    const maxNoise = 2 * this._k + 1;
    this._noiseVecs = new Array(maxNoise);
    for (let i = 0; i < maxNoise; i++) {
      this._noiseVecs[i] = new Int16Array(N);
    }
    this._polyVec = new Array(this._k);
    for (let i = 0; i < this._k; i++) {
      this._polyVec[i] = new Int16Array(N);
    }
    this._bufPkCheck = new Uint8Array(384 * this._k);
    this._bufCt = new Uint8Array(this._compressedUSize + this._compressedVSize);
  }
  _zeroPool() {
    this._bufG.fill(0);
    this._bufH.fill(0);
    this._bufKdf.fill(0);
    this._bufXof.fill(0);
    this._bufPrf1.fill(0);
    this._bufPrf2.fill(0);
    this._nonceBuf[0] = 0;
    this._xofSeed.fill(0);
    for (let i = 0; i < this._k; i++) {
      for (let j = 0; j < this._k; j++) {
        this._matrixA[i][j].fill(0);
      }
    }
    for (let i = 0; i < this._noiseVecs.length; i++) {
      this._noiseVecs[i].fill(0);
    }
    for (let i = 0; i < this._k; i++) {
      this._polyVec[i].fill(0);
    }
    this._bufPkCheck.fill(0);
    this._bufCt.fill(0);
    this._poolG.reset();
    this._poolH.reset();
    this._poolKdf.reset();
    this._poolXof.reset();
    this._poolPrf1.reset();
    this._poolPrf2.reset();
  }
  // Serialize polynomial into byte buffer at offset (eliminates intermediate Uint8Array(384))
  _polyToBytes(out, outOffset, a) {
    let t0, t1;
    for (let i = 0; i < N / 2; i++) {
      t0 = a[2 * i] - Q;
      t0 += t0 >> 31 & Q;
      t1 = a[2 * i + 1] - Q;
      t1 += t1 >> 31 & Q;
      out[outOffset + 3 * i + 0] = byte(t0);
      out[outOffset + 3 * i + 1] = byte(t0 >> 8) | byte(t1 << 4);
      out[outOffset + 3 * i + 2] = byte(t1 >> 4);
    }
  }
  // Deserialize bytes into polynomial (eliminates intermediate Int16Array(N))
  _polyFromBytes(out, a, aOffset) {
    for (let i = 0; i < N / 2; i++) {
      out[2 * i] = int16((uint16(a[aOffset + 3 * i + 0]) >> 0 | uint16(a[aOffset + 3 * i + 1]) << 8) & 4095);
      out[2 * i + 1] = int16((uint16(a[aOffset + 3 * i + 1]) >> 4 | uint16(a[aOffset + 3 * i + 2]) << 4) & 4095);
    }
  }
  // Hash G: SHA3-512
  _g(a, b) {
    this._poolG.reset();
    this._poolG.updateUnsafe(a);
    if (b !== void 0)
      this._poolG.updateUnsafe(b);
    this._poolG.writeIntoUnsafe(this._bufG);
    return [this._bufG.subarray(0, 32), this._bufG.subarray(32, 64)];
  }
  // Hash H: SHA3-256
  _h(msg) {
    this._poolH.reset();
    this._poolH.updateUnsafe(msg).writeIntoUnsafe(this._bufH);
    return this._bufH;
  }
  // KDF: SHAKE256(dkLen=32)
  _kdf(a, b) {
    this._poolKdf.reset();
    this._poolKdf.updateUnsafe(a);
    if (b !== void 0)
      this._poolKdf.updateUnsafe(b);
    this._poolKdf.writeIntoUnsafe(this._bufKdf);
    return this._bufKdf;
  }
  // XOF: SHAKE128(dkLen=672)
  _xof(seed) {
    this._poolXof.reset();
    this._poolXof.updateUnsafe(seed).writeIntoUnsafe(this._bufXof);
    return this._bufXof;
  }
  // PRF for eta1 noise sampling: SHAKE256(dkLen=eta1*N/4)
  _prf1(sigma, nonce) {
    this._nonceBuf[0] = nonce;
    this._poolPrf1.reset();
    this._poolPrf1.updateUnsafe(sigma).updateUnsafe(this._nonceBuf).writeIntoUnsafe(this._bufPrf1);
    return this._bufPrf1;
  }
  // PRF for eta2 noise sampling: SHAKE256(dkLen=eta2*N/4)
  _prf2(sigma, nonce) {
    this._nonceBuf[0] = nonce;
    this._poolPrf2.reset();
    this._poolPrf2.updateUnsafe(sigma).updateUnsafe(this._nonceBuf).writeIntoUnsafe(this._bufPrf2);
    return this._bufPrf2;
  }
  _generateKeyPairCore() {
    try {
      const rnd = new Uint8Array(64);
      this._api.getRandomValues(rnd);
      return this._deriveKeyPair(rnd);
    } finally {
      this._zeroPool();
    }
  }
  _deriveKeyPairCore(seed) {
    try {
      if (seed.byteLength !== 64) {
        throw new Error("seed must be 64 bytes in length");
      }
      return this._deriveKeyPair(seed);
    } finally {
      this._zeroPool();
    }
  }
  _encapCore(pk, seed) {
    try {
      if (pk.length !== 384 * this._k + 32) {
        throw new Error("invalid encapsulation key");
      }
      const m = this._getSeed(seed);
      const [k, r] = this._g(m, this._h(pk));
      this._encap(pk, m, r);
      return [this._bufCt.slice(), k.slice()];
    } finally {
      this._zeroPool();
    }
  }
  _decapCore(ct, sk) {
    try {
      if (ct.byteLength !== this._compressedUSize + this._compressedVSize) {
        throw new Error("Invalid ct size");
      }
      if (sk.length !== 768 * this._k + 96) {
        throw new Error("Invalid decapsulation key");
      }
      const sk2 = sk.subarray(0, this._skSize);
      const pk = sk.subarray(this._skSize, this._skSize + this._pkSize);
      const hpk = sk.subarray(this._skSize + this._pkSize, this._skSize + this._pkSize + 32);
      const z = sk.subarray(this._skSize + this._pkSize + 32, this._skSize + this._pkSize + 64);
      const m2 = this._decap(ct, sk2);
      const [k2, r2] = this._g(m2, hpk);
      const kBar = this._kdf(z, ct);
      this._encap(pk, m2, r2);
      return constantTimeCompare(ct, this._bufCt) === 1 ? k2.slice() : kBar.slice();
    } finally {
      this._zeroPool();
    }
  }
  /**
   * Sets up the MlKemBase instance by loading the necessary crypto library.
   * If the crypto library is already loaded, this method does nothing.
   * @returns {Promise<void>} A promise that resolves when the setup is complete.
   */
  async _setup() {
    if (this._api !== void 0) {
      return;
    }
    this._api = await loadCrypto2();
  }
  /**
   * Returns a Uint8Array seed for cryptographic operations.
   * If no seed is provided, a random seed of length 32 bytes is generated.
   * If a seed is provided, it must be exactly 32 bytes in length.
   *
   * @param seed - Optional seed for cryptographic operations.
   * @returns A Uint8Array seed.
   * @throws Error if the provided seed is not 32 bytes in length.
   */
  _getSeed(seed) {
    if (seed == void 0) {
      const s = new Uint8Array(32);
      this._api.getRandomValues(s);
      return s;
    }
    if (seed.byteLength !== 32) {
      throw new Error("seed must be 32 bytes in length");
    }
    return seed;
  }
  /**
   * Derives a key pair from a given seed.
   *
   * @param seed - The seed used for key derivation.
   * @returns An array containing the public key and secret key.
   */
  _deriveKeyPair(seed) {
    const cpaSeed = seed.subarray(0, 32);
    const z = seed.subarray(32, 64);
    const [pk, skBody] = this._deriveCpaKeyPair(cpaSeed);
    const pkh = this._h(pk);
    const sk = new Uint8Array(this._skSize + this._pkSize + 64);
    sk.set(skBody, 0);
    sk.set(pk, this._skSize);
    sk.set(pkh, this._skSize + this._pkSize);
    sk.set(z, this._skSize + this._pkSize + 32);
    return [pk, sk];
  }
  // indcpaKeyGen generates public and private keys for the CPA-secure
  // public-key encryption scheme underlying ML-KEM.
  /**
   * Derives a CPA key pair using the provided CPA seed.
   *
   * @param cpaSeed - The CPA seed used for key derivation.
   * @returns An array containing the public key and private key.
   */
  _deriveCpaKeyPair(cpaSeed) {
    const [publicSeed, noiseSeed] = this._g(cpaSeed, this._kBuf);
    const a = this._sampleMatrix(publicSeed, false);
    const s = this._sampleNoise1(noiseSeed, 0, this._k);
    const e = this._sampleNoise1(noiseSeed, this._k, this._k);
    for (let i = 0; i < this._k; i++) {
      s[i] = ntt(s[i]);
      s[i] = reduce(s[i]);
      e[i] = ntt(e[i]);
    }
    const pk = new Array(this._k);
    for (let i = 0; i < this._k; i++) {
      pk[i] = polyToMont(multiply(a[i], s));
      pk[i] = add2(pk[i], e[i]);
      pk[i] = reduce(pk[i]);
    }
    const pubKey = new Uint8Array(this._pkSize);
    for (let i = 0; i < this._k; i++) {
      this._polyToBytes(pubKey, i * 384, pk[i]);
    }
    pubKey.set(publicSeed, this._skSize);
    const privKey = new Uint8Array(this._skSize);
    for (let i = 0; i < this._k; i++) {
      this._polyToBytes(privKey, i * 384, s[i]);
    }
    return [pubKey, privKey];
  }
  // _encap is the encapsulation function of the CPA-secure
  // public-key encryption scheme underlying ML-KEM.
  /**
   * Encapsulates a message using the ML-KEM encryption scheme.
   *
   * @param pk - The public key.
   * @param msg - The message to be encapsulated.
   * @param seed - The seed used for generating random values.
   * @returns The encapsulated message as a Uint8Array.
   */
  _encap(pk, msg, seed) {
    const tHat = this._polyVec;
    const pkCheck = this._bufPkCheck;
    for (let i = 0; i < this._k; i++) {
      this._polyFromBytes(tHat[i], pk, i * 384);
      this._polyToBytes(pkCheck, i * 384, tHat[i]);
    }
    if (!equalUint8Array(pk.subarray(0, pkCheck.length), pkCheck)) {
      throw new Error("invalid encapsulation key");
    }
    const rho = pk.subarray(this._skSize);
    const a = this._sampleMatrix(rho, true);
    const r = this._sampleNoise1(seed, 0, this._k);
    const e1 = this._sampleNoise2(seed, this._k, this._k);
    const e2 = this._sampleNoise2(seed, this._k * 2, 1)[0];
    for (let i = 0; i < this._k; i++) {
      r[i] = ntt(r[i]);
      r[i] = reduce(r[i]);
    }
    const u = new Array(this._k);
    for (let i = 0; i < this._k; i++) {
      u[i] = multiply(a[i], r);
      u[i] = nttInverse(u[i]);
      u[i] = add2(u[i], e1[i]);
      u[i] = reduce(u[i]);
    }
    const m = polyFromMsg(msg);
    let v = multiply(tHat, r);
    v = nttInverse(v);
    v = add2(v, e2);
    v = add2(v, m);
    v = reduce(v);
    this._compressU(this._bufCt.subarray(0, this._compressedUSize), u);
    this._compressV(this._bufCt.subarray(this._compressedUSize), v);
    return this._bufCt;
  }
  // indcpaDecrypt is the decryption function of the CPA-secure
  // public-key encryption scheme underlying ML-KEM.
  /**
   * Decapsulates the ciphertext using the provided secret key.
   *
   * @param ct - The ciphertext to be decapsulated.
   * @param sk - The secret key used for decapsulation.
   * @returns The decapsulated message as a Uint8Array.
   */
  _decap(ct, sk) {
    const u = this._decompressU(ct.subarray(0, this._compressedUSize));
    const v = this._decompressV(ct.subarray(this._compressedUSize));
    const privateKeyPolyvec = this._polyvecFromBytes(sk);
    for (let i = 0; i < this._k; i++) {
      u[i] = ntt(u[i]);
    }
    let mp = multiply(privateKeyPolyvec, u);
    mp = nttInverse(mp);
    mp = subtract(v, mp);
    mp = reduce(mp);
    return polyToMsg(mp);
  }
  // generateMatrixA deterministically generates a matrix `A` (or the transpose of `A`)
  // from a seed. Entries of the matrix are polynomials that look uniformly random.
  // Performs rejection sampling on the output of an extendable-output function (XOF).
  /**
   * Generates a sample matrix based on the provided seed and transposition flag.
   *
   * @param seed - The seed used for generating the matrix.
   * @param transposed - A flag indicating whether the matrix should be transposed or not.
   * @returns The generated sample matrix.
   */
  _sampleMatrix(seed, transposed) {
    const a = this._matrixA;
    this._xofSeed.set(seed);
    for (let ctr = 0, i = 0; i < this._k; i++) {
      for (let j = 0; j < this._k; j++) {
        if (transposed) {
          this._xofSeed[seed.length] = i;
          this._xofSeed[seed.length + 1] = j;
        } else {
          this._xofSeed[seed.length] = j;
          this._xofSeed[seed.length + 1] = i;
        }
        const output = this._xof(this._xofSeed);
        ctr = indcpaRejUniform(a[i][j], 0, output.subarray(0, 504), 504, N);
        while (ctr < N) {
          const outputn = output.subarray(504, 672);
          ctr += indcpaRejUniform(a[i][j], ctr, outputn, 168, N - ctr);
        }
      }
    }
    return a;
  }
  /**
   * Generates a 2D array of noise samples.
   *
   * @param sigma - The noise parameter.
   * @param offset - The offset value.
   * @param size - The size of the array.
   * @returns The generated 2D array of noise samples.
   */
  _sampleNoise1(sigma, offset, size) {
    const r = new Array(size);
    for (let i = 0; i < size; i++) {
      r[i] = this._noiseVecs[offset + i];
      byteopsCbd(r[i], this._prf1(sigma, offset + i), this._eta1);
    }
    return r;
  }
  /**
   * Generates a 2-dimensional array of noise samples.
   *
   * @param sigma - The noise parameter.
   * @param offset - The offset value.
   * @param size - The size of the array.
   * @returns The generated 2-dimensional array of noise samples.
   */
  _sampleNoise2(sigma, offset, size) {
    const r = new Array(size);
    for (let i = 0; i < size; i++) {
      r[i] = this._noiseVecs[offset + i];
      byteopsCbd(r[i], this._prf2(sigma, offset + i), this._eta2);
    }
    return r;
  }
  // polyvecFromBytes deserializes a vector of polynomials.
  /**
   * Converts a Uint8Array to a 2D array of numbers representing a polynomial vector.
   * Each element in the resulting array represents a polynomial.
   * @param a The Uint8Array to convert.
   * @returns The 2D array of numbers representing the polynomial vector.
   */
  _polyvecFromBytes(a) {
    const r = this._polyVec;
    for (let i = 0; i < this._k; i++) {
      this._polyFromBytes(r[i], a, i * 384);
    }
    return r;
  }
  // compressU lossily compresses and serializes a vector of polynomials.
  /**
   * Compresses the given array of coefficients into a Uint8Array.
   *
   * @param r - The output Uint8Array.
   * @param u - The array of coefficients.
   * @returns The compressed Uint8Array.
   */
  _compressU(r, u) {
    const t = new Array(4);
    for (let rr = 0, i = 0; i < this._k; i++) {
      for (let j = 0; j < N / 4; j++) {
        for (let k = 0; k < 4; k++) {
          t[k] = ((u[i][4 * j + k] << 10) + Q / 2) / Q & 1023;
        }
        r[rr++] = byte(t[0] >> 0);
        r[rr++] = byte(t[0] >> 8 | t[1] << 2);
        r[rr++] = byte(t[1] >> 6 | t[2] << 4);
        r[rr++] = byte(t[2] >> 4 | t[3] << 6);
        r[rr++] = byte(t[3] >> 2);
      }
    }
    return r;
  }
  // compressV lossily compresses and subsequently serializes a polynomial.
  /**
   * Compresses the given array of numbers into a Uint8Array.
   *
   * @param r - The Uint8Array to store the compressed values.
   * @param v - The array of numbers to compress.
   * @returns The compressed Uint8Array.
   */
  _compressV(r, v) {
    const t = new Uint8Array(8);
    for (let rr = 0, i = 0; i < N / 8; i++) {
      for (let j = 0; j < 8; j++) {
        t[j] = byte(((v[8 * i + j] << 4) + Q / 2) / Q) & 15;
      }
      r[rr++] = t[0] | t[1] << 4;
      r[rr++] = t[2] | t[3] << 4;
      r[rr++] = t[4] | t[5] << 4;
      r[rr++] = t[6] | t[7] << 4;
    }
    return r;
  }
  // decompressU de-serializes and decompresses a vector of polynomials and
  // represents the approximate inverse of compress1. Since compression is lossy,
  // the results of decompression will may not match the original vector of polynomials.
  /**
   * Decompresses a Uint8Array into a two-dimensional array of numbers.
   *
   * @param a The Uint8Array to decompress.
   * @returns The decompressed two-dimensional array.
   */
  _decompressU(a) {
    const r = new Array(this._k);
    for (let i = 0; i < this._k; i++) {
      r[i] = new Int16Array(N);
    }
    const t = new Array(4);
    for (let aa = 0, i = 0; i < this._k; i++) {
      for (let j = 0; j < N / 4; j++) {
        t[0] = uint16(a[aa + 0]) >> 0 | uint16(a[aa + 1]) << 8;
        t[1] = uint16(a[aa + 1]) >> 2 | uint16(a[aa + 2]) << 6;
        t[2] = uint16(a[aa + 2]) >> 4 | uint16(a[aa + 3]) << 4;
        t[3] = uint16(a[aa + 3]) >> 6 | uint16(a[aa + 4]) << 2;
        aa = aa + 5;
        for (let k = 0; k < 4; k++) {
          r[i][4 * j + k] = int16((t[k] & 1023) * Q + 512 >> 10);
        }
      }
    }
    return r;
  }
  // decompressV de-serializes and subsequently decompresses a polynomial,
  // representing the approximate inverse of compress2.
  // Note that compression is lossy, and thus decompression will not match the
  // original input.
  /**
   * Decompresses a Uint8Array into an array of numbers.
   *
   * @param a - The Uint8Array to decompress.
   * @returns An array of numbers.
   */
  _decompressV(a) {
    const r = new Int16Array(N);
    for (let aa = 0, i = 0; i < N / 2; i++, aa++) {
      r[2 * i + 0] = int16((a[aa] & 15) * Q + 8 >> 4);
      r[2 * i + 1] = int16((a[aa] >> 4) * Q + 8 >> 4);
    }
    return r;
  }
};
function polyToMsg(a) {
  const msg = new Uint8Array(32);
  let t, v;
  for (let i = 0; i < N / 8; i++) {
    for (let j = 0; j < 8; j++) {
      v = a[8 * i + j] - Q;
      v += v >> 31 & Q;
      t = ((uint16(v) << 1) + uint16(Q / 2)) / uint16(Q) & 1;
      msg[i] |= byte(t << j);
    }
  }
  return msg;
}
function polyFromMsg(msg) {
  const r = new Int16Array(N);
  let mask;
  for (let i = 0; i < N / 8; i++) {
    for (let j = 0; j < 8; j++) {
      mask = -1 * int16(msg[i] >> j & 1);
      r[8 * i + j] = mask & int16((Q + 1) / 2);
    }
  }
  return r;
}
function indcpaRejUniform(out, outOffset, buf, bufl, len) {
  let ctr = 0;
  let val0, val1;
  for (let pos = 0; ctr < len && pos + 3 <= bufl; ) {
    val0 = (uint16(buf[pos] >> 0) | uint16(buf[pos + 1]) << 8) & 4095;
    val1 = (uint16(buf[pos + 1] >> 4) | uint16(buf[pos + 2]) << 4) & 4095;
    pos = pos + 3;
    if (val0 < Q) {
      out[outOffset + ctr] = val0;
      ctr = ctr + 1;
    }
    if (ctr < len && val1 < Q) {
      out[outOffset + ctr] = val1;
      ctr = ctr + 1;
    }
  }
  return ctr;
}
function byteopsCbd(out, buf, eta) {
  let t, d;
  let a, b;
  for (let i = 0; i < N / 8; i++) {
    t = byteopsLoad32(buf, 4 * i);
    d = t & 1431655765;
    d = d + (t >> 1 & 1431655765);
    for (let j = 0; j < 8; j++) {
      a = int16(d >> 4 * j + 0 & 3);
      b = int16(d >> 4 * j + eta & 3);
      out[8 * i + j] = a - b;
    }
  }
}
function ntt(r) {
  for (let j = 0, k = 1, l = 128; l >= 2; l >>= 1) {
    for (let start = 0; start < 256; start = j + l) {
      const zeta = NTT_ZETAS[k];
      k = k + 1;
      for (j = start; j < start + l; j++) {
        const t = nttFqMul(zeta, r[j + l]);
        r[j + l] = r[j] - t;
        r[j] = r[j] + t;
      }
    }
  }
  return r;
}
function nttFqMul(a, b) {
  const ab = a * b;
  const u = Math.imul(ab, Q_INV) << 16 >> 16;
  return ab - u * Q >> 16;
}
function reduce(r) {
  for (let i = 0; i < N; i++) {
    r[i] = barrett(r[i]);
  }
  return r;
}
var BARRETT_V = ((1 << 24) + Q / 2) / Q;
function barrett(a) {
  let t = BARRETT_V * a >> 24;
  t = t * Q;
  return a - t;
}
function polyToMont(r) {
  const f = 1353;
  for (let i = 0; i < N; i++) {
    const a = r[i] * f;
    const u = Math.imul(a, Q_INV) << 16 >> 16;
    r[i] = a - u * Q >> 16;
  }
  return r;
}
function multiply(a, b) {
  let r = polyBaseMulMontgomery(a[0], b[0]);
  let t;
  for (let i = 1; i < a.length; i++) {
    t = polyBaseMulMontgomery(a[i], b[i]);
    r = add2(r, t);
  }
  return reduce(r);
}
function polyBaseMulMontgomery(a, b) {
  for (let i = 0; i < N / 4; i++) {
    const idx = 4 * i;
    const a0 = a[idx], a1 = a[idx + 1], a2 = a[idx + 2], a3 = a[idx + 3];
    const b0 = b[idx], b1 = b[idx + 1], b2 = b[idx + 2], b3 = b[idx + 3];
    const zeta = NTT_ZETAS[64 + i];
    a[idx] = nttFqMul(nttFqMul(a1, b1), zeta) + nttFqMul(a0, b0);
    a[idx + 1] = nttFqMul(a0, b1) + nttFqMul(a1, b0);
    a[idx + 2] = nttFqMul(nttFqMul(a3, b3), -zeta) + nttFqMul(a2, b2);
    a[idx + 3] = nttFqMul(a2, b3) + nttFqMul(a3, b2);
  }
  return a;
}
function add2(a, b) {
  for (let i = 0; i < N; i++) {
    a[i] += b[i];
  }
  return a;
}
function subtract(a, b) {
  for (let i = 0; i < N; i++) {
    a[i] -= b[i];
  }
  return a;
}
function nttInverse(r) {
  let j = 0;
  for (let k = 0, l = 2; l <= 128; l <<= 1) {
    for (let start = 0; start < 256; start = j + l) {
      const zeta = NTT_ZETAS_INV[k];
      k = k + 1;
      for (j = start; j < start + l; j++) {
        const t = r[j];
        r[j] = barrett(t + r[j + l]);
        r[j + l] = t - r[j + l];
        r[j + l] = nttFqMul(zeta, r[j + l]);
      }
    }
  }
  for (j = 0; j < 256; j++) {
    r[j] = nttFqMul(r[j], NTT_ZETAS_INV[127]);
  }
  return r;
}

// node_modules/mlkem/esm/src/mlKem768.js
var MlKem768 = class extends MlKemBase {
  constructor() {
    super();
    Object.defineProperty(this, "_k", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 3
    });
    Object.defineProperty(this, "_du", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 10
    });
    Object.defineProperty(this, "_dv", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 4
    });
    Object.defineProperty(this, "_eta1", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 2
    });
    Object.defineProperty(this, "_eta2", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 2
    });
    this._skSize = 12 * this._k * N / 8;
    this._pkSize = this._skSize + 32;
    this._compressedUSize = this._k * this._du * N / 8;
    this._compressedVSize = this._dv * N / 8;
    this._initPool();
  }
  /**
   * Generates a keypair [publicKey, privateKey].
   *
   * If an error occurred, throws {@link MlKemError}.
   *
   * @returns A kaypair [publicKey, privateKey].
   * @throws {@link MlKemError}
   */
  async generateKeyPair() {
    await this._setup();
    try {
      return this._generateKeyPairCore();
    } catch (e) {
      throw new MlKemError(e);
    }
  }
  /**
   * Derives a keypair [publicKey, privateKey] deterministically from a 64-octet seed.
   *
   * If an error occurred, throws {@link MlKemError}.
   *
   * @param seed A 64-octet seed for the deterministic key generation.
   * @returns A kaypair [publicKey, privateKey].
   * @throws {@link MlKemError}
   */
  async deriveKeyPair(seed) {
    await this._setup();
    try {
      return this._deriveKeyPairCore(seed);
    } catch (e) {
      throw new MlKemError(e);
    }
  }
  /**
   * Generates a shared secret from the encapsulated ciphertext and the private key.
   *
   * If an error occurred, throws {@link MlKemError}.
   *
   * @param pk A public key.
   * @param seed An optional 32-octet seed for the deterministic shared secret generation.
   * @returns A ciphertext (encapsulated public key) and a shared secret.
   * @throws {@link MlKemError}
   */
  async encap(pk, seed) {
    await this._setup();
    try {
      return this._encapCore(pk, seed);
    } catch (e) {
      throw new MlKemError(e);
    }
  }
  /**
   * Generates a ciphertext for the public key and a shared secret.
   *
   * If an error occurred, throws {@link MlKemError}.
   *
   * @param ct A ciphertext generated by {@link encap}.
   * @param sk A private key.
   * @returns A shared secret.
   * @throws {@link MlKemError}
   */
  async decap(ct, sk) {
    await this._setup();
    try {
      return this._decapCore(ct, sk);
    } catch (e) {
      throw new MlKemError(e);
    }
  }
};

// node_modules/@hpke/dhkem-x25519/esm/src/primitives/x25519.js
var _1n3 = 1n;
var _2n3 = 2n;
var _3n = 3n;
var _5n = 5n;
var ed25519_CURVE_p = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffedn;
function ed25519_pow_2_252_3(x) {
  const _10n = 10n;
  const _20n = 20n;
  const _40n = 40n;
  const _80n = 80n;
  const P = ed25519_CURVE_p;
  const x2 = x * x % P;
  const b2 = x2 * x % P;
  const b4 = pow2(b2, _2n3, P) * b2 % P;
  const b5 = pow2(b4, _1n3, P) * x % P;
  const b10 = pow2(b5, _5n, P) * b5 % P;
  const b20 = pow2(b10, _10n, P) * b10 % P;
  const b40 = pow2(b20, _20n, P) * b20 % P;
  const b80 = pow2(b40, _40n, P) * b40 % P;
  const b160 = pow2(b80, _80n, P) * b80 % P;
  const b240 = pow2(b160, _80n, P) * b80 % P;
  const b250 = pow2(b240, _10n, P) * b10 % P;
  const pow_p_5_8 = pow2(b250, _2n3, P) * x % P;
  return { pow_p_5_8, b2 };
}
function adjustScalarBytes(bytes3) {
  bytes3[0] &= 248;
  bytes3[31] &= 127;
  bytes3[31] |= 64;
  return bytes3;
}
var x25519 = /* @__PURE__ */ (() => {
  const P = ed25519_CURVE_p;
  return montgomery({
    P,
    type: "x25519",
    powPminus2: (x) => {
      const { pow_p_5_8, b2 } = ed25519_pow_2_252_3(x);
      return mod(pow2(pow_p_5_8, _3n, P) * b2, P);
    },
    adjustScalarBytes
  });
})();

// node_modules/@hpke/dhkem-x25519/esm/src/hkdfSha256.js
var HkdfSha2562 = class extends HkdfSha256Native {
  async extract(salt, ikm) {
    await this._setup();
    const saltBuf = salt.byteLength === 0 ? new ArrayBuffer(this.hashSize) : toArrayBuffer(salt);
    const ikmBuf = toArrayBuffer(ikm);
    if (saltBuf.byteLength !== this.hashSize) {
      return hmac(sha256, new Uint8Array(saltBuf), new Uint8Array(ikmBuf)).buffer;
    }
    const key = await this._api.importKey("raw", saltBuf, this.algHash, false, [
      "sign"
    ]);
    return await this._api.sign("HMAC", key, ikmBuf);
  }
};

// node_modules/@hpke/dhkem-x25519/esm/src/dhkemX25519.js
var X255192 = class extends XCurveDhkemPrimitives {
  constructor(hkdf2) {
    super("X25519", 32, x25519, hkdf2);
  }
  derive(sk, pk) {
    try {
      return Promise.resolve(this._curve.getSharedSecret(sk, pk));
    } catch (e) {
      return Promise.reject(new SerializeError(e));
    }
  }
};

// node_modules/@hpke/hybridkem-x-wing/esm/src/xWing.js
var ALG_NAME2 = "X-Wing";
var X25519_BASE = new Uint8Array([
  9,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0
]);
var XWING_LABEL = new Uint8Array([92, 46, 47, 47, 94, 92]);
function combiner(ssM, ssX, ctX, pkX) {
  const ret = new Uint8Array(ssM.length + ssX.length + ctX.length + pkX.length + XWING_LABEL.length);
  ret.set(ssM, 0);
  ret.set(ssX, ssM.length);
  ret.set(ctX, ssM.length + ssX.length);
  ret.set(pkX, ssM.length + ssX.length + ctX.length);
  ret.set(XWING_LABEL, ssM.length + ssX.length + ctX.length + pkX.length);
  return sha3_2562.create().update(ret).digest();
}
var XWing = class {
  constructor() {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KemId.XWing
    });
    Object.defineProperty(this, "name", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: ALG_NAME2
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 1120
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 1216
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "auth", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "_m", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_x25519", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._m = new MlKem768();
    this._x25519 = new X255192(new HkdfSha2562());
  }
  async serializePublicKey(key) {
    await this._setup();
    try {
      return await this._serializePublicKey(key);
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePublicKey(key) {
    await this._setup();
    try {
      return await this._deserializePublicKey(toArrayBuffer(key));
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async serializePrivateKey(key) {
    await this._setup();
    try {
      return await this._serializePrivateKey(key);
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePrivateKey(key) {
    await this._setup();
    try {
      return await this._deserializePrivateKey(toArrayBuffer(key));
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  /**
   * Generates a new key pair.
   *
   * @returns {Promise<CryptoKeyPair>} A promise that resolves with a new key pair.
   */
  async generateKeyPair() {
    await this._setup();
    const sk = new Uint8Array(32);
    try {
      this._api.getRandomValues(sk);
    } catch (e) {
      throw new NotSupportedError(e);
    }
    try {
      const [_sk, pk] = await this._generateKeyPairDerand(sk);
      const dSk = await this.deserializePrivateKey(sk.buffer);
      const dPk = await this.deserializePublicKey(pk.buffer);
      return { privateKey: dSk, publicKey: dPk };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  /**
   * Generates a key pair from the secret key.
   * @param sk The secret key.
   * @returns {Promise<CryptoKeyPair>} A promise that resolves with a new key pair.
   * @throws {InvalidParamError} Thrown if the length of the secret key is not 32 bytes.
   * @throws {DeriveKeyPairError} Thrown if the key pair cannot be derived.
   */
  async generateKeyPairDerand(sk) {
    if (sk.byteLength !== 32) {
      throw new InvalidParamError("Invalid length of sk");
    }
    try {
      const [_sk, pk] = await this._generateKeyPairDerand(sk);
      const dSk = await this.deserializePrivateKey(sk.buffer);
      const dPk = await this.deserializePublicKey(pk.buffer);
      return { privateKey: dSk, publicKey: dPk };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  /**
   * Derives a key pair from the input keying material.
   *
   * @param {ArrayBuffer} ikm The input keying material.
   * @returns {Promise<CryptoKeyPair>} A promise that resolves with a new key pair.
   * @throws {DeriveKeyPairError} Thrown if the key pair cannot be derived.
   * @throws {InvalidParamError} Thrown if the length of the IKM is not 32 bytes.
   */
  async deriveKeyPair(ikm) {
    await this._setup();
    try {
      const rawIkm = toArrayBuffer(ikm);
      const sk = shake2562.create({ dkLen: 32 }).update(new Uint8Array(rawIkm)).digest();
      const [_sk, pk] = await this._generateKeyPairDerand(sk);
      const dSk = await this.deserializePrivateKey(sk.buffer);
      const dPk = await this.deserializePublicKey(pk.buffer);
      return { privateKey: dSk, publicKey: dPk };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  /**
   * Imports a key from the input.
   * @param format The format of the key. "raw" or "jwk" can be specified.
   * @param key The key to import. If the format is "raw", the key must be an ArrayBuffer. If the format is "jwk", the key must be a JsonWebKey.
   * @param isPublic A boolean indicating whether the key is public or not. The default is true.
   * @returns {Promise<CryptoKey>} A promise that resolves with the imported key.
   * @throws {DeserializeError} Thrown if the key cannot be imported.
   */
  async importKey(format, key, isPublic = true) {
    await this._setup();
    try {
      let ret;
      if (format === "jwk") {
        if (key instanceof ArrayBuffer || key instanceof Uint8Array) {
          throw new Error("Invalid jwk key format");
        }
        ret = await this._importJWK(key, isPublic);
      } else {
        if (key instanceof ArrayBuffer) {
          ret = new Uint8Array(key);
        } else if (key instanceof Uint8Array) {
          ret = key;
        } else {
          throw new Error("Invalid key format");
        }
      }
      if (isPublic && ret.byteLength !== this.publicKeySize) {
        throw new Error("Invalid length of the key");
      }
      if (!isPublic && ret.byteLength !== this.privateKeySize) {
        throw new Error("Invalid length of the key");
      }
      return new XCryptoKey(ALG_NAME2, ret, isPublic ? "public" : "private", isPublic ? [] : KEM_USAGES);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  /**
   * Encapsulates the shared secret and the `ct` (ciphertext) as `enc`.
   * @param params The parameters for encapsulation.
   * @returns {Promise<{ sharedSecret: ArrayBuffer; enc: ArrayBuffer }>} A promise that resolves with the `ss` (shared secret) as `sharedSecret` and the `ct` (ciphertext) as `enc`.
   * @throws {InvalidParamError} Thrown if the length of the `ekm` is not 64 bytes.
   * @throws {EncapError} Thrown if the shared secret cannot be encapsulated.
   */
  async encap(params) {
    let ekm = void 0;
    if (params.ekm !== void 0 && !isCryptoKeyPair(params.ekm)) {
      ekm = toArrayBuffer(params.ekm);
      if (ekm.byteLength !== 64) {
        throw new InvalidParamError("ekm must be 64 bytes in length");
      }
    }
    await this._setup();
    let ekM = void 0;
    let ekX;
    if (ekm !== void 0) {
      const ek = new Uint8Array(ekm);
      ekM = ek.subarray(0, 32);
      ekX = ek.subarray(32, 64);
    } else {
      ekX = new Uint8Array(32);
      try {
        this._api.getRandomValues(ekX);
      } catch (e) {
        throw new NotSupportedError(e);
      }
    }
    const pk = new Uint8Array(await this.serializePublicKey(params.recipientPublicKey));
    if (pk.byteLength !== 1216) {
      throw new InvalidParamError("Invalid length of recipientPublicKey");
    }
    try {
      const pkM = pk.subarray(0, 1184);
      const pkX = pk.subarray(1184, 1216);
      const ctX = await this._x25519.derive(ekX, X25519_BASE);
      const ssX = await this._x25519.derive(ekX, pkX);
      const [ctM, ssM] = await this._m.encap(pkM, ekM);
      return {
        sharedSecret: combiner(ssM, ssX, ctX, pkX).buffer,
        enc: concat3(ctM, ctX).buffer
      };
    } catch (e) {
      throw new EncapError(e);
    }
  }
  /**
   * Decapsulates the `ss` (shared secret) from the `enc` and the recipient's private key.
   * The `enc` is the same as the `ct` (ciphertext) resulting from `X-Wing::Encapsulate(),
   * which is executed under the `encap()`.
   * @param params The parameters for decapsulation.
   * @returns {Promise<ArrayBuffer>} A promise that resolves with the shared secret.
   * @throws {InvalidParamError} Thrown if the length of the `enc` is not 1120 bytes.
   * @throws {DecapError} Thrown if the shared secret cannot be decapsulated.
   */
  async decap(params) {
    const enc3 = toArrayBuffer(params.enc);
    const rSk = isCryptoKeyPair(params.recipientKey) ? params.recipientKey.privateKey : params.recipientKey;
    if (enc3.byteLength !== 1120) {
      throw new InvalidParamError("Invalid length of enc");
    }
    const sk = new Uint8Array(await this.serializePrivateKey(rSk));
    if (sk.byteLength !== 32) {
      throw new InvalidParamError("Invalid length of recipientKey");
    }
    await this._setup();
    try {
      const [skM, skX, _pkM, pkX] = await this._expandDecapsulationKey(sk);
      const ct = new Uint8Array(enc3);
      const ctM = ct.subarray(0, 1088);
      const ctX = ct.subarray(1088);
      const ssM = await this._m.decap(ctM, skM);
      const ssX = await this._x25519.derive(skX, ctX);
      return combiner(ssM, ssX, ctX, pkX).buffer;
    } catch (e) {
      throw new DecapError(e);
    }
  }
  /**
   * Sets up the MlKemBase instance by loading the necessary crypto library.
   * If the crypto library is already loaded, this method does nothing.
   * @returns {Promise<void>} A promise that resolves when the setup is complete.
   */
  async _setup() {
    if (this._api !== void 0) {
      return;
    }
    this._api = await loadCrypto();
  }
  /**
   * Generates a key pair from the secret key.
   * @param sk The secret key.
   * @returns {Promise<[Uint8Array, Uint8Array]>} A promise that resolves with the key pair derived from the secret key.
   */
  async _generateKeyPairDerand(sk) {
    const [_skM, _skX, pkM, pkX] = await this._expandDecapsulationKey(sk);
    return [sk, concat3(pkM, pkX)];
  }
  /**
   * Expands the decapsulation key.
   * @param sk The secret key.
   * @returns {Promise<[Uint8Array, Uint8Array, Uint8Array, Uint8Array]>} A promise that resolves with the keys derived by expanding the secret key.
   */
  async _expandDecapsulationKey(sk) {
    const expanded = shake2562.create({ dkLen: 96 }).update(sk).digest();
    const [pkM, skM] = await this._m.deriveKeyPair(expanded.subarray(0, 64));
    const skX = expanded.subarray(64, 96);
    const pkX = await this._x25519.derive(skX, X25519_BASE);
    return [skM, skX, pkM, pkX];
  }
  _serializePublicKey(k) {
    return new Promise((resolve, reject) => {
      if (k.type !== "public") {
        reject(new Error("Not public key"));
      }
      if (k.algorithm.name !== this.name) {
        reject(new Error(`Invalid algorithm name: ${k.algorithm.name}`));
      }
      if (k.key.byteLength !== this.publicKeySize) {
        reject(new Error(`Invalid key length: ${k.key.byteLength}`));
      }
      resolve(k.key.buffer);
    });
  }
  _deserializePublicKey(k) {
    return new Promise((resolve, reject) => {
      if (k.byteLength !== this.publicKeySize) {
        reject(new Error(`Invalid key length: ${k.byteLength}`));
      }
      resolve(new XCryptoKey(this.name, new Uint8Array(k), "public"));
    });
  }
  _serializePrivateKey(k) {
    return new Promise((resolve, reject) => {
      if (k.type !== "private") {
        reject(new Error("Not private key"));
      }
      if (k.algorithm.name !== this.name) {
        reject(new Error(`Invalid algorithm name: ${k.algorithm.name}`));
      }
      if (k.key.byteLength !== this.privateKeySize) {
        reject(new Error(`Invalid key length: ${k.key.byteLength}`));
      }
      resolve(k.key.buffer);
    });
  }
  _deserializePrivateKey(k) {
    return new Promise((resolve, reject) => {
      if (k.byteLength !== this.privateKeySize) {
        reject(new Error(`Invalid key length: ${k.byteLength}`));
      }
      resolve(new XCryptoKey(this.name, new Uint8Array(k), "private", ["deriveBits"]));
    });
  }
  _importJWK(key, isPublic) {
    return new Promise((resolve, reject) => {
      if (typeof key.kty === "undefined" || key.kty !== "AKP") {
        reject(new Error(`Invalid kty: ${key.kty}`));
      }
      if (typeof key.alg === "undefined" || key.alg !== ALG_NAME2) {
        reject(new Error(`Invalid alg: ${key.alg}`));
      }
      if (!isPublic) {
        if (typeof key.priv === "undefined") {
          reject(new Error("Invalid key: `priv` not found"));
        }
        if (typeof key.key_ops !== "undefined" && (key.key_ops.length !== 1 || key.key_ops[0] !== "deriveBits")) {
          reject(new Error("Invalid key: `key_ops` should be ['deriveBits']"));
        }
        resolve(base64UrlToBytes(key.priv));
      }
      if (typeof key.priv !== "undefined") {
        reject(new Error("Invalid key: `priv` should not be set"));
      }
      if (typeof key.pub === "undefined") {
        reject(new Error("Invalid key: `pub` not found"));
      }
      if (typeof key.key_ops !== "undefined" && key.key_ops.length > 0) {
        reject(new Error("Invalid key: `key_ops` should not be set"));
      }
      resolve(base64UrlToBytes(key.pub));
    });
  }
};

// src/b64.js
function b64url(bytes3) {
  let s = "";
  for (const b of bytes3) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function unb64url(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s)) throw new Error("malformed base64url");
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

// src/keys.js
var SUITES2 = {
  x25519: () => new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() }),
  mlkem768x25519: () => new CipherSuite({ kem: new XWing(), kdf: new HkdfSha256(), aead: new Aes256Gcm() })
};
var INFO_LABEL = "geofence meeting key v1";
var MAX_ID_LEN = 1024;
function bindingInfo({ meeting, epoch, participant: participant2 }) {
  const enc3 = new TextEncoder();
  const parts = [];
  const str = (what, s) => {
    const b = enc3.encode(s);
    if (what && b.length === 0) throw new Error(`keywrap binding: empty ${what}`);
    if (b.length > MAX_ID_LEN && what) throw new Error(`keywrap binding: ${what} longer than ${MAX_ID_LEN} bytes`);
    const n = new Uint8Array(2);
    new DataView(n.buffer).setUint16(0, b.length);
    parts.push(n, b);
  };
  str("", INFO_LABEL);
  str("meeting", meeting);
  const e = new Uint8Array(8);
  new DataView(e.buffer).setBigUint64(0, BigInt(epoch));
  parts.push(e);
  str("participant", participant2);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
var ParticipantKey = class _ParticipantKey {
  static async generate(suiteName = "x25519") {
    const make = SUITES2[suiteName];
    if (!make) throw new Error(`unknown key suite ${JSON.stringify(suiteName)}: want x25519 or mlkem768x25519`);
    const k = new _ParticipantKey();
    k.suiteName = suiteName;
    k.suite = make();
    k.pair = await k.suite.kem.generateKeyPair();
    const raw = new Uint8Array(await k.suite.kem.serializePublicKey(k.pair.publicKey));
    k.publicKey = `${suiteName}:${b64url(raw)}`;
    return k;
  }
  /**
   * Opens a key server's wrapped key (keywrap's text form "<suite>-wrapped:<base64url>") bound
   * to binding, and returns the 32 raw bytes, which the caller imports and zeroes at once.
   */
  async unwrap(wrapped, binding) {
    const [prefix, data] = String(wrapped).split(":", 2);
    if (prefix !== `${this.suiteName}-wrapped` || data === void 0) throw new Error(`wrapped key of suite ${JSON.stringify(prefix)}, want ${this.suiteName}-wrapped`);
    const bytes3 = unb64url(data);
    const encLen = this.suite.kem.encSize;
    if (bytes3.length !== encLen + 32 + 16) throw new Error(`wrapped key is ${bytes3.length} bytes, want ${encLen + 48}`);
    const recipient = await this.suite.createRecipientContext({
      recipientKey: this.pair.privateKey,
      enc: bytes3.slice(0, encLen),
      info: bindingInfo(binding)
    });
    return new Uint8Array(await recipient.open(bytes3.slice(encLen)));
  }
};
async function wrapKey(publicKey, key, binding) {
  const s = String(publicKey);
  const i = s.indexOf(":");
  const suiteName = i < 0 ? s : s.slice(0, i);
  const make = SUITES2[suiteName];
  if (!make || i < 0) throw new Error(`public key of suite ${JSON.stringify(suiteName)}: want x25519 or mlkem768x25519`);
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new Error("wrap: the meeting key must be 32 bytes");
  const suite = make();
  const raw = unb64url(s.slice(i + 1));
  const recipientPublicKey = await suite.kem.deserializePublicKey(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const sender = await suite.createSenderContext({ recipientPublicKey, info: bindingInfo(binding) });
  const ct = new Uint8Array(await sender.seal(key));
  const enc3 = new Uint8Array(sender.enc);
  const out = new Uint8Array(enc3.length + ct.length);
  out.set(enc3, 0);
  out.set(ct, enc3.length);
  return `${suiteName}-wrapped:${b64url(out)}`;
}

// src/code.js
var CODE_LABEL = "geofence meeting security code v1";
var GROUPS = 6;
var BYTES_PER_GROUP = 5;
async function securityCode(epochKey, epoch, roster) {
  if (!Array.isArray(roster) || roster.length === 0) throw new Error("security code: no participants");
  const keys = [...roster].map(String).sort();
  const enc3 = new TextEncoder();
  const parts = [];
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === "") throw new Error("security code: an empty public key");
    if (i > 0 && keys[i] === keys[i - 1]) throw new Error("security code: a public key listed twice");
    const b = enc3.encode(keys[i]);
    parts.push(Uint8Array.of(b.length >> 8, b.length & 255), b);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const rosterHash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  const label2 = enc3.encode(CODE_LABEL);
  const info = new Uint8Array(label2.length + 8 + rosterHash.length);
  info.set(label2, 0);
  new DataView(info.buffer).setBigUint64(label2.length, BigInt(epoch));
  info.set(rosterHash, label2.length + 8);
  const key = epochKey instanceof Uint8Array ? await crypto.subtle.importKey("raw", epochKey, "HKDF", false, ["deriveBits"]) : epochKey;
  const okm = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, key, GROUPS * BYTES_PER_GROUP * 8));
  const groups = [];
  for (let i = 0; i < GROUPS; i++) {
    const g = okm.subarray(i * BYTES_PER_GROUP, (i + 1) * BYTES_PER_GROUP);
    const v = g[0] * 2 ** 32 + (g[1] << 24 >>> 0) + (g[2] << 16) + (g[3] << 8) + g[4];
    groups.push(String(v % 1e5).padStart(5, "0"));
  }
  return groups.join(" ");
}

// src/e2ee.js
var KEY_SIZE = 32;
var KeyFlow = class {
  /**
   * meeting is the meeting id; pkey the page's ParticipantKey; send(m) sends a signalling
   * message; onKey(epoch, raw, { first }) gets each new epoch key (raw is a copy the callee
   * must zero); onChange() is called when `state` changed. random(n) returns n random bytes.
   * A leader rotates `coalesce` ms after a leave (0: at once), so that leaves that come
   * together cost one epoch; schedule(fn, ms) runs fn later, in signalling order.
   */
  constructor({
    meeting,
    pkey: pkey2,
    send: send2,
    onKey,
    onChange = () => {
    },
    random = (n) => crypto.getRandomValues(new Uint8Array(n)),
    coalesce = 200,
    schedule = (fn, ms) => setTimeout(fn, ms)
  }) {
    Object.assign(this, { meeting, pkey: pkey2, send: send2, onKey, onChange, random, coalesce, schedule });
    this.leaving = false;
    this.rotation = false;
    this.self = null;
    this.roster = /* @__PURE__ */ new Map();
    this.leaderRef = null;
    this.lead = null;
    this.held = null;
    this.state = { leader: null, isLeader: false, epoch: null, code: null, ignored: 0, refused: [], roster: 0, wrapFailures: 0 };
  }
  /** joined starts (or, after a move to another DC, restarts) the flow from `joined`. */
  async joined(j) {
    this.self = j.participant.ref;
    this.roster.clear();
    if (this.lead) {
      this.lead.raw.fill(0);
      this.lead = null;
    }
    this.leaving = false;
    for (const p of j.participants ?? []) this._add(p);
    if (j.leader) await this.leader(j.leader);
    else await this._changed();
  }
  /** participantJoined: a leader sends the joiner the current epoch's envelope. */
  async participantJoined(p) {
    if (!p?.public_key || p.ref === this.self || this.roster.has(p.ref)) return;
    this._add(p);
    if (this.lead) await this._sendTo(p.ref, this.lead);
    await this._changed();
  }
  /** participantLeft: a leader rotates, so the one who left never holds the new epoch. */
  async participantLeft(ref) {
    const had = this.roster.delete(ref);
    if (had && this.lead) {
      this.leaving = true;
      if (this.coalesce <= 0) await this._rotate();
      else if (!this.rotation) {
        this.rotation = true;
        this.schedule(() => this._rotate(), this.coalesce);
      }
    }
    await this._changed();
  }
  /** _rotate deals a new epoch to everyone left, once for every leave since the last. */
  async _rotate() {
    this.rotation = false;
    if (!this.lead || !this.leaving) return;
    this.leaving = false;
    await this._deal(this.lead.epoch + 1);
    await this._changed();
  }
  /** leader follows the server's choice of leader; the page named takes over. */
  async leader(l) {
    this.leaderRef = l?.ref || null;
    if (this.leaderRef !== this.self) {
      if (this.lead) {
        this.lead.raw.fill(0);
        this.lead = null;
        this.leaving = false;
      }
    } else if (!this.lead) {
      await this._deal(Math.max(this.held?.epoch ?? 0, Number(l.epoch ?? 0)) + 1);
    }
    await this._changed();
  }
  /** key opens an envelope that `from` sent, or counts it as ignored and says why. */
  async key(from, env) {
    const why = this._check(from, env);
    if (why) {
      this._ignore(why);
      return false;
    }
    let raw;
    try {
      raw = await this.pkey.unwrap(env.wrapped, { meeting: this.meeting, epoch: env.epoch, participant: this.self });
    } catch (e) {
      this._ignore(`the envelope of epoch ${env.epoch} does not open: ${e.message}`);
      return false;
    }
    await this._hold(env.epoch, raw, false);
    raw.fill(0);
    await this._changed();
    return true;
  }
  /** refused records the server's refusal of an envelope this page sent. */
  refused(error, participant2) {
    this.state.refused.push({ error: error?.error, message: error?.message, participant: participant2?.ref });
    this.onChange();
  }
  _check(from, env) {
    if (this.lead) return "this page leads: it takes no keys";
    if (!from || from !== this.leaderRef) return `an envelope from ${from}, who is not the leader (${this.leaderRef ?? "none"})`;
    if (!env || env.meeting !== this.meeting || env.participant !== this.self) return `an envelope for ${env?.participant} of meeting ${env?.meeting}, not for this page`;
    if (!Number.isSafeInteger(env.epoch) || env.epoch < 1) return `an envelope of epoch ${env.epoch}`;
    if (this.held && env.epoch <= this.held.epoch) return `an envelope of old epoch ${env.epoch} (holding ${this.held.epoch})`;
    return null;
  }
  _ignore(why) {
    this.state.ignored++;
    this.state.lastIgnored = why;
    this.onChange();
  }
  _add(p) {
    if (p?.public_key && p.ref !== this.self) this.roster.set(p.ref, p.public_key);
  }
  /** _deal makes a new key at epoch, sends it to everyone and holds it. */
  async _deal(epoch) {
    if (!Number.isSafeInteger(epoch)) throw new Error("the epoch counter is exhausted: start a new meeting");
    const raw = this.random(KEY_SIZE);
    if (!(raw instanceof Uint8Array) || raw.length !== KEY_SIZE) throw new Error("no random key");
    if (this.lead) this.lead.raw.fill(0);
    this.lead = { epoch, raw };
    await this._hold(epoch, raw, true);
    await Promise.all([...this.roster.keys()].map((ref) => this._sendTo(ref, this.lead)));
  }
  /** _sendTo sends ref its envelope; a public key that does not wrap costs ref alone its key. */
  async _sendTo(ref, { epoch, raw }) {
    let wrapped;
    try {
      wrapped = await wrapKey(this.roster.get(ref), raw, { meeting: this.meeting, epoch, participant: ref });
    } catch (e) {
      this.state.wrapFailures++;
      this.state.lastWrapFailure = `no envelope for ${ref}: ${e.message}`;
      return;
    }
    this.send({ type: "key", participant: { ref }, key: { meeting: this.meeting, epoch, participant: ref, wrapped } });
  }
  async _hold(epoch, raw, dealt) {
    const first = this.held === null;
    const hkdf2 = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveBits"]);
    this.held = { epoch, hkdf: hkdf2 };
    await this.onKey(epoch, raw.slice(), { first, dealt });
  }
  async _changed() {
    const s = this.state;
    s.leader = this.leaderRef;
    s.isLeader = !!this.lead;
    s.epoch = this.held?.epoch ?? null;
    s.roster = this.roster.size + 1;
    s.code = this.held ? await securityCode(this.held.hkdf, this.held.epoch, [this.pkey.publicKey, ...this.roster.values()]) : null;
    this.onChange();
  }
};

// src/ticket.js
var TOKEN_TYPE = "geofence-ticket+jwt";
var ISSUER = "geofence";
var JWKS_PATH = "/.well-known/jwks.json";
var LEEWAY_SECONDS = 60;
var MAX_TOKEN = 16 << 10;
function segment(s, what) {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(unb64url(s)));
  } catch (e) {
    throw new Error(`ticket: malformed ${what}: ${e.message}`);
  }
}
async function verifyTicket(token, jwks, now = Date.now() / 1e3) {
  if (typeof token !== "string" || token.length > MAX_TOKEN) throw new Error("ticket: not a string of at most 16 KiB");
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => p === "")) throw new Error("ticket: not a compact JWS (three non-empty segments)");
  const header = segment(parts[0], "header");
  if (header.alg !== "EdDSA") throw new Error(`ticket: alg ${JSON.stringify(header.alg)}, want EdDSA`);
  if (header.typ !== TOKEN_TYPE) throw new Error(`ticket: typ ${JSON.stringify(header.typ)}, want ${TOKEN_TYPE}`);
  if (header.jwk || header.jku || header.x5u) throw new Error("ticket: the header names its own key");
  const jwk = (jwks?.keys ?? []).find((k) => k.kid === header.kid && k.kty === "OKP" && k.crv === "Ed25519" && (!k.use || k.use === "sig"));
  if (!jwk) throw new Error(`ticket: key ${JSON.stringify(header.kid)} is not among the directory's published keys`);
  const key = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, unb64url(parts[2]), new TextEncoder().encode(`${parts[0]}.${parts[1]}`));
  if (!ok) throw new Error("ticket: the signature does not verify under the directory's key");
  const c = segment(parts[1], "claims");
  if (c.iss !== ISSUER) throw new Error(`ticket: issuer ${JSON.stringify(c.iss)}, want ${ISSUER}`);
  if (typeof c.exp !== "number" || now >= c.exp + LEEWAY_SECONDS) throw new Error("ticket: expired");
  if (typeof c.nbf === "number" && now + LEEWAY_SECONDS < c.nbf) throw new Error("ticket: not yet valid (is a clock wrong?)");
  for (const f of ["meeting", "sub", "account", "mode", "home"]) {
    if (typeof c[f] !== "string" || c[f] === "") throw new Error(`ticket: no ${f}`);
  }
  return c;
}

// src/app.js
var q = new URLSearchParams(location.search);
var $ = (id) => document.getElementById(id);
var loopbackHost = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
var state = {
  phase: "idle",
  error: null,
  notices: [],
  ticket: null,
  claims: null,
  joined: null,
  datacenter: null,
  epoch: null,
  participants: /* @__PURE__ */ new Map(),
  tracks: /* @__PURE__ */ new Map(),
  withheld: [],
  tried: /* @__PURE__ */ new Set(),
  workers: [],
  workerErrors: [],
  timeline: {},
  e2ee: null
};
window.geofence = { state, report };
function show(phase, text) {
  state.phase = phase;
  $("status").textContent = text;
  $("status").dataset.phase = phase;
}
function refuse(where, err) {
  const e = err?.body ?? { error: "error", message: String(err?.message ?? err) };
  state.error = { where, ...e };
  const rules = e.rules?.length ? ` (rule ${e.rules.join(", ")})` : "";
  $("error").textContent = `${where}: ${e.error}: ${e.message}${rules}`;
  $("error").hidden = false;
  show("refused", "Not in the meeting");
}
function notice(text) {
  state.notices.push(text);
  const li = document.createElement("li");
  li.textContent = text;
  $("notices").append(li);
}
function tile(ref) {
  let t = document.getElementById(`tile-${ref}`);
  if (t) return t;
  t = document.createElement("figure");
  t.id = `tile-${ref}`;
  t.className = "tile";
  const v = document.createElement("video");
  v.autoplay = true;
  v.playsInline = true;
  v.muted = ref === "self";
  const cap = document.createElement("figcaption");
  t.append(v, cap);
  $("tiles").append(t);
  return t;
}
function caption(ref) {
  const p = state.participants.get(ref);
  if (!p) return;
  const t = tile(ref);
  const where = `${p.datacenter ?? "?"}${p.bridged ? ", through a bridge" : ""}`;
  t.querySelector("figcaption").textContent = `${p.id}${ref === "self" ? " (you)" : ""} · ${where}`;
  t.dataset.datacenter = p.datacenter ?? "";
  t.dataset.bridged = String(!!p.bridged);
}
function removeTile(ref) {
  document.getElementById(`tile-${ref}`)?.remove();
}
var Refusal = class extends Error {
  constructor(status, body) {
    super(`${status} ${body?.error ?? ""}: ${body?.message ?? ""}`);
    this.status = status;
    this.body = body ?? { error: `http_${status}`, message: "no error body" };
  }
};
async function postJSON(url, body, headers = {}) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) });
  let out = null;
  try {
    out = await r.json();
  } catch {
  }
  if (!r.ok) throw new Refusal(r.status, out);
  return out;
}
function clientHeaders() {
  return q.get("ip") ? { "X-Forwarded-For": q.get("ip") } : {};
}
var media = null;
var pkey = null;
var rotateTimer = null;
async function fetchKey() {
  let last = null;
  for (const dc of state.claims.kms ?? []) {
    try {
      const res = await postJSON(
        `${dc.endpoint}/v1/meetings/${encodeURIComponent(state.claims.meeting)}/key`,
        { token: state.ticket, public_key: pkey.publicKey }
      );
      return { ...res, dc };
    } catch (e) {
      last = e;
      notice(`key server ${dc.id} refused: ${e.body?.error ?? e.message}${e.body?.rules?.length ? " (rule " + e.body.rules.join(", ") + ")" : ""}`);
    }
  }
  throw last ?? new Error("the ticket lists no key server");
}
async function applyKey(res, { switchAfter = 0 } = {}) {
  if (state.epoch !== null && res.epoch <= state.epoch) return false;
  const raw = await pkey.unwrap(res.wrapped, { meeting: state.claims.meeting, epoch: res.epoch, participant: state.claims.sub });
  state.kms = res.kms;
  await applyEpoch(res.epoch, raw, { switchAfter, from: `key server ${res.kms}` });
  scheduleRotation(res.rotate_at);
  return true;
}
async function applyEpoch(epoch, raw, { switchAfter = 0, from }) {
  await media.addEpoch(epoch, raw);
  const previous = state.epoch;
  state.epoch = epoch;
  const use = () => {
    media.useEpoch(epoch);
    media.keyFrame();
    send({ type: "rekeyed" });
    if (previous !== null) setTimeout(() => media.removeEpoch(previous), 1e4);
    $("epoch").textContent = `epoch ${epoch} from ${from}`;
  };
  if (switchAfter > 0 && previous !== null) setTimeout(use, switchAfter);
  else use();
}
var flow = null;
var pendingOffer = null;
var publishPending = false;
function startFlow() {
  flow = new KeyFlow({
    meeting: state.claims.meeting,
    pkey,
    send,
    onKey: (epoch, raw, { first, dealt }) => applyEpoch(epoch, raw, {
      switchAfter: first ? 0 : 1e3,
      from: dealt ? "this page, the meeting's key leader" : "the meeting's key leader"
    }),
    onChange: showCode,
    // A rotation after leaves runs in signalling order, between messages.
    schedule: (fn, ms) => setTimeout(() => serial(fn), ms)
  });
  state.e2ee = flow.state;
}
function showCode() {
  const s = flow.state;
  $("code").textContent = s.code ? `security code ${s.code}${s.isLeader ? " · you lead the keys" : ""}` : "waiting for the meeting key from its leader";
  $("code").dataset.code = s.code ?? "";
}
async function keyReady() {
  if (!flow || state.epoch === null) return;
  if (pendingOffer) {
    const m = pendingOffer;
    pendingOffer = null;
    await subscriberOffer(m.sdp);
  }
  if (publishPending) {
    publishPending = false;
    await publish(localStream);
  }
}
var KEY_REFUSALS = /* @__PURE__ */ new Set(["not_leader", "unknown_participant", "envelope_mismatch", "not_e2ee", "limit_reached"]);
function scheduleRotation(at) {
  clearTimeout(rotateTimer);
  if (!at) return;
  const ms = Math.max(0, Date.parse(at) - Date.now()) + 200;
  rotateTimer = setTimeout(() => rekey().catch((e) => notice(`re-key: ${e.message}`)), ms);
}
async function rekey() {
  const res = await fetchKey();
  if (!await applyKey(res, { switchAfter: 1e3 })) scheduleRotation(res.rotate_at);
}
var ws = null;
var pub = null;
var sub = null;
var pendingCandidates = { publisher: [], subscriber: [] };
function send(m) {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
}
var queue = Promise.resolve();
function serial(fn) {
  queue = queue.then(fn).catch((err) => notice(`signalling: ${err.message}`));
  return queue;
}
function allowed(c) {
  if (!loopbackHost) return true;
  if (!c?.candidate) return true;
  const m = /^candidate:\S+ \d+ \S+ \d+ (\S+) /.exec(c.candidate);
  return (c.address ?? m?.[1]) === "127.0.0.1";
}
function newPC(target) {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  pc.onicecandidate = (e) => {
    if (e.candidate && !allowed(e.candidate)) return;
    send({ type: "candidate", target, candidate: e.candidate ? e.candidate.toJSON() : null });
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") notice(`${target} connection failed`);
  };
  return pc;
}
async function addRemoteCandidate(target, c) {
  if (c && !allowed(c)) return;
  const pc = target === "publisher" ? pub : sub;
  if (!pc || !pc.remoteDescription) {
    pendingCandidates[target].push(c);
    return;
  }
  await pc.addIceCandidate(c ?? void 0);
}
async function flushCandidates(target) {
  const pc = target === "publisher" ? pub : sub;
  for (const c of pendingCandidates[target].splice(0)) await pc.addIceCandidate(c ?? void 0);
}
async function publish(stream) {
  pub = newPC("publisher");
  const [video] = stream.getVideoTracks();
  const [audio] = stream.getAudioTracks();
  if (video) {
    const t = pub.addTransceiver(video, { direction: "sendonly", streams: [stream] });
    const vp8 = RTCRtpSender.getCapabilities("video").codecs.filter((c) => c.mimeType === "video/VP8");
    t.setCodecPreferences(vp8);
    media.attachSender(t.sender, "vp8");
  }
  if (audio) {
    const t = pub.addTransceiver(audio, { direction: "sendonly", streams: [stream] });
    const opus = RTCRtpSender.getCapabilities("audio").codecs.filter((c) => c.mimeType === "audio/opus");
    t.setCodecPreferences(opus);
    media.attachSender(t.sender, "opus");
  }
  await pub.setLocalDescription();
  send({ type: "offer", target: "publisher", sdp: pub.localDescription.sdp });
}
function subscriber() {
  if (sub) return sub;
  sub = newPC("subscriber");
  sub.ontrack = (e) => {
    const info = state.tracks.get(e.track.id);
    const codec = e.track.kind === "video" ? "vp8" : "opus";
    media.attachReceiver(e.receiver, codec);
    const ref = info?.participant ?? e.streams[0]?.id ?? "unknown";
    const v = tile(ref).querySelector("video");
    const s = v.srcObject ?? new MediaStream();
    s.addTrack(e.track);
    v.srcObject = s;
    e.track.onended = () => s.removeTrack(e.track);
  };
  return sub;
}
function participant(p) {
  state.participants.set(p.ref, p);
  caption(p.ref);
}
function onWithheld(w) {
  state.withheld.push(w);
  const who = state.participants.get(w.track?.participant)?.id ?? w.track?.participant;
  notice(`${who}'s ${w.track?.kind ?? "track"} is withheld from ${w.datacenter}: ${w.code} (rule ${w.rule})${w.message ? ": " + w.message : ""}`);
  const t = document.getElementById(`tile-${w.track?.participant}`);
  if (t) t.classList.add("withheld");
}
async function onSignal(m) {
  switch (m.type) {
    case "joined": {
      const j = m.joined;
      state.joined = j;
      state.datacenter = j.datacenter;
      state.participants.set("self", { ...j.participant, bridged: j.bridged });
      state.selfRef = j.participant.ref;
      caption("self");
      for (const p of j.participants ?? []) participant(p);
      for (const t of j.tracks ?? []) state.tracks.set(t.id, t);
      for (const w of j.withheld ?? []) onWithheld(w);
      $("where").textContent = `on ${j.datacenter}${j.bridged ? `, bridged to the meeting's home ${j.home}` : " (the meeting's home)"}`;
      show("joined", `In meeting ${j.meeting}`);
      state.timeline.joined = performance.now();
      watchFirstFrame();
      if (flow) {
        publishPending = true;
        await flow.joined(j);
        await keyReady();
      } else {
        await publish(localStream);
      }
      break;
    }
    case "answer":
      if (m.target === "publisher") {
        await pub.setRemoteDescription({ type: "answer", sdp: m.sdp });
        await flushCandidates("publisher");
      }
      break;
    case "offer":
      if (m.target === "subscriber") {
        if (flow && state.epoch === null) {
          pendingOffer = m;
          break;
        }
        await subscriberOffer(m.sdp);
      }
      break;
    case "candidate":
      await addRemoteCandidate(m.target, m.candidate);
      break;
    case "participant_joined":
      participant(m.participant);
      if (flow) await flow.participantJoined(m.participant);
      break;
    case "participant_left":
      state.participants.delete(m.participant.ref);
      removeTile(m.participant.ref);
      if (flow) await flow.participantLeft(m.participant.ref);
      if (state.claims?.mode === "managed" && state.epoch !== null) rekey().catch((e) => notice(`key after a leave: ${e.message}`));
      break;
    case "track_published":
      state.tracks.set(m.track.id, m.track);
      break;
    case "track_unpublished":
      state.tracks.delete(m.track.id);
      break;
    case "withheld":
      onWithheld(m.withheld);
      break;
    case "leader":
      if (flow) {
        await flow.leader(m.leader);
        await keyReady();
      }
      break;
    case "key":
      if (flow) {
        await flow.key(m.participant?.ref, m.key);
        await keyReady();
      }
      break;
    case "goaway":
      moveOn();
      break;
    case "error":
      if (m.participant && KEY_REFUSALS.has(m.error?.error)) {
        flow?.refused(m.error, m.participant);
        notice(`the media server refused a key envelope for ${m.participant.ref}: ${m.error.error}: ${m.error.message}`);
        break;
      }
      refuse(`media server ${state.dcID}`, { body: m.error });
      break;
    default:
      break;
  }
}
async function subscriberOffer(sdp) {
  const pc = subscriber();
  await pc.setRemoteDescription({ type: "offer", sdp });
  await flushCandidates("subscriber");
  await pc.setLocalDescription();
  send({ type: "answer", target: "subscriber", sdp: pc.localDescription.sdp });
}
function watchFirstFrame() {
  if (state.timeline.firstFrame) return;
  const t = setInterval(async () => {
    if (!sub) return;
    const s = await sub.getStats();
    let decoded = 0;
    s.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") decoded += r.framesDecoded ?? 0;
    });
    if (decoded > 0) {
      state.timeline.firstFrame = performance.now();
      clearInterval(t);
    }
  }, 50);
}
var localStream = null;
async function join() {
  const directory = q.get("directory") || location.origin;
  const meeting = q.get("meeting");
  if (!meeting) throw Object.assign(new Error("no meeting"), { body: { error: "bad_request", message: "the address names no meeting: add ?meeting=<id>" } });
  show("media", "Starting camera and microphone");
  localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  tile("self").querySelector("video").srcObject = localStream;
  media = new MediaEncryption(new Worker(new URL("./worker.js", import.meta.url), { type: "module" }), {
    onStats: (s) => {
      state.workers = s;
    },
    onError: (e) => state.workerErrors.push(e.message)
  });
  pkey = await ParticipantKey.generate(q.get("suite") || "x25519");
  show("joining", "Joining through the directory");
  const body = { public_key: pkey.publicKey };
  if (q.get("account")) body.account = q.get("account");
  if (q.get("participant")) body.participant = q.get("participant");
  const headers = clientHeaders();
  if (q.get("token")) headers.Authorization = `Bearer ${q.get("token")}`;
  let res;
  try {
    res = await postJSON(`${directory}/v1/meetings/${encodeURIComponent(meeting)}/join`, body, headers);
  } catch (e) {
    refuse("directory", e);
    return;
  }
  const jwks = await (await fetch(`${directory}${JWKS_PATH}`)).json();
  let claims;
  try {
    claims = await verifyTicket(res.token, jwks);
  } catch (e) {
    refuse("ticket", e);
    return;
  }
  if (claims.home !== res.home || claims.meeting !== res.meeting || claims.public_key !== pkey.publicKey) {
    refuse("ticket", new Error("the join answer does not match its signed ticket"));
    return;
  }
  state.ticket = res.token;
  state.claims = claims;
  $("meeting").textContent = `Meeting ${claims.meeting} · region ${claims.region} · ${claims.mode}`;
  if (q.get("key") === "none") {
    notice("joined without the meeting key (key=none): nothing can be decoded");
  } else if (claims.mode === "managed") {
    show("keys", "Fetching the meeting key");
    try {
      await applyKey(await fetchKey());
    } catch (e) {
      refuse("key servers", e);
      return;
    }
  } else {
    startFlow();
    showCode();
  }
  const dcs = [...claims.primary, ...claims.secondary ?? []];
  const want = q.get("dc");
  const withEndpoint = dcs.filter((d) => d.endpoint);
  const dc = (want === "home" ? withEndpoint.find((d) => d.id === claims.home) : want === "away" ? [...claims.secondary ?? [], ...claims.primary].find((d) => d.endpoint && d.id !== claims.home) : want ? withEndpoint.find((d) => d.id === want) : withEndpoint[0]) ?? null;
  if (!dc?.endpoint) {
    refuse("ticket", new Error(`the ticket lists no media datacenter ${q.get("dc") ?? ""}`));
    return;
  }
  connect(dc);
}
function connect(dc) {
  state.dcID = dc.id;
  state.tried.add(dc.id);
  show("connecting", `Connecting to ${dc.id}`);
  const url = new URL("/v1/rtc", dc.endpoint);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => send({ type: "join", ticket: state.ticket });
  sock.onmessage = (e) => {
    if (sock !== ws) return;
    let m;
    try {
      m = JSON.parse(e.data);
    } catch {
      return;
    }
    serial(() => sock === ws ? onSignal(m) : void 0);
  };
  sock.onclose = () => serial(() => {
    if (sock === ws && state.phase === "joined") moveOn("lost");
  });
}
function moveOn(why = "draining") {
  const from = state.datacenter;
  const what = why === "lost" ? `the connection to ${from} was lost` : `${from} is draining`;
  const dcs = [...state.claims.primary, ...state.claims.secondary ?? []].filter((d) => d.endpoint && !state.tried.has(d.id));
  if (dcs.length === 0) {
    if (why === "lost") show("left", `${what} and the ticket lists no other datacenter to try: join again`);
    else notice(`${what} and the ticket lists no other datacenter to try: join again`);
    return;
  }
  notice(`${what}: moving to ${dcs[0].id}`);
  const old = ws;
  ws = null;
  old?.close();
  pub?.close();
  sub?.close();
  pub = null;
  sub = null;
  pendingCandidates.publisher.length = 0;
  pendingCandidates.subscriber.length = 0;
  for (const ref of state.participants.keys()) if (ref !== "self") removeTile(ref);
  state.participants = /* @__PURE__ */ new Map([["self", state.participants.get("self")]]);
  state.tracks.clear();
  pendingOffer = null;
  connect(dcs[0]);
}
async function leave() {
  clearTimeout(rotateTimer);
  for (const dc of state.claims?.kms ?? []) {
    try {
      await postJSON(`${dc.endpoint}/v1/meetings/${encodeURIComponent(state.claims.meeting)}/leave`, { token: state.ticket });
      break;
    } catch {
    }
  }
  send({ type: "leave" });
  ws?.close();
  pub?.close();
  sub?.close();
  for (const t of localStream?.getTracks() ?? []) t.stop();
  show("left", "You left the meeting");
}
async function report() {
  media?.requestStats();
  const out = {
    phase: state.phase,
    error: state.error,
    self: state.selfRef ?? null,
    datacenter: state.datacenter,
    bridged: state.joined?.bridged ?? null,
    home: state.joined?.home ?? null,
    epoch: state.epoch,
    e2ee: state.e2ee,
    notices: state.notices,
    withheld: state.withheld,
    participants: [...state.participants.values()],
    workers: state.workers,
    workerErrors: state.workerErrors,
    inbound: [],
    pairs: {},
    firstFrameMs: state.timeline.firstFrame ?? null
  };
  for (const [name, pc] of [["publisher", pub], ["subscriber", sub]]) {
    if (!pc) continue;
    const s = await pc.getStats();
    s.forEach((r) => {
      if (r.type === "inbound-rtp") {
        out.inbound.push({
          kind: r.kind,
          participant: state.tracks.get(r.trackIdentifier)?.participant ?? null,
          codec: s.get(r.codecId)?.mimeType,
          framesDecoded: r.framesDecoded ?? 0,
          keyFramesDecoded: r.keyFramesDecoded ?? 0,
          frameWidth: r.frameWidth ?? 0,
          packetsReceived: r.packetsReceived ?? 0,
          totalSamplesReceived: r.totalSamplesReceived ?? 0
        });
      }
      if (r.type === "transport" && r.selectedCandidatePairId) {
        const p = s.get(r.selectedCandidatePairId);
        out.pairs[name] = { local: s.get(p.localCandidateId)?.address, remote: s.get(p.remoteCandidateId)?.address, state: p.state };
      }
    });
  }
  return out;
}
$("leave").onclick = () => leave();
join().catch((e) => refuse("page", e));

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
var REPLAY_WINDOW = 128;
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
    k.kidBytes = kh.subarray(1);
    const sv = new DataView(salt.buffer, salt.byteOffset, salt.byteLength);
    k.saltHi = sv.getUint32(4);
    k.saltLo = sv.getUint32(8);
    if (p.nka > 0) {
      k.ctrKey = await subtle.importKey("raw", key.subarray(0, p.nka), "AES-CTR", false, ["encrypt"]);
      k.macKey = await subtle.importKey("raw", key.subarray(p.nka), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    } else {
      k.gcmKey = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
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
    const cl = c < 8 ? 0 : c < 256 ? 1 : c < 65536 ? 2 : c < 16777216 ? 3 : 4;
    const out = new Uint8Array(1 + kl + cl);
    out[0] = this.kidCfg | (cl === 0 ? c : 8 | cl - 1);
    out.set(this.kidBytes, 1);
    for (let i = 0; i < cl; i++) out[1 + kl + i] = c >>> 8 * (cl - 1 - i) & 255;
    return out;
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
  // AEAD.Encrypt: ciphertext || tag.
  async seal(ctr, aad, plaintext) {
    const nonce = this.nonce(ctr);
    if (this.gcmKey) {
      return new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, this.gcmKey, plaintext));
    }
    const ct = new Uint8Array(await this.ctr(nonce, plaintext));
    return concat(ct, await this.tag(nonce, aad, ct));
  }
  // AEAD.Decrypt; throws AuthError.
  async open(ctr, aad, body) {
    const nonce = this.nonce(ctr);
    if (this.gcmKey) {
      try {
        return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, this.gcmKey, body));
      } catch {
        throw new AuthError();
      }
    }
    const ct = body.subarray(0, body.length - this.nt);
    const want = await this.tag(nonce, aad, ct);
    if (!timingSafeEqual(want, body.subarray(body.length - this.nt))) throw new AuthError();
    return new Uint8Array(await this.ctr(nonce, ct));
  }
};
var WINDOW_MASK = (1n << BigInt(REPLAY_WINDOW)) - 1n;
var _internal = { concat, u64bytes, u16bytes, Key };

// src/profile.js
var { concat: concat2, u64bytes: u64bytes2, u16bytes: u16bytes2 } = _internal;
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
export {
  Codec,
  MediaEncryption
};

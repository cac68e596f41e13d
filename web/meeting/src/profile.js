// The Geofence media profile of SFrame (docs/media-profile.md), identical to the Go package
// crypto/mediaprofile: a codec-defined prefix of each frame stays in clear and is SFrame's
// metadata, the wire frame is prefix || SFrame ciphertext, and every sending session has its
// own key, derived from the meeting's epoch key and the session's KID.

import {
  DEFAULT_SUITE, MAX_HEADER_LEN, MalformedError, Receiver, Sender, UnknownKeyError,
  hkdf, overhead, parseHeader, suiteParams, _internal,
} from './sframe.js';

export { AuthError, MalformedError, ReplayError, UnknownKeyError, Suite, DEFAULT_SUITE } from './sframe.js';

const { concat, u64bytes, u16bytes, toBig, bytes } = _internal;

/** The codecs of the profile. */
export const Codec = Object.freeze({ NONE: 'none', VP8: 'vp8', OPUS: 'opus' });

/** A frame shorter than its codec's clear prefix; the sender drops it. */
export class ShortFrameError extends Error {
  constructor() { super('mediaprofile: frame shorter than its codec\'s clear prefix'); this.name = 'ShortFrameError'; }
}

/** A new sending session in an epoch that already has maxSenders. */
export class TooManySendersError extends Error {
  constructor() { super('mediaprofile: open: too many sending sessions in the epoch'); this.name = 'TooManySendersError'; }
}

// The KID: epoch (8 bits) | session (48 bits) | ratchet step (8 bits).
export const RATCHET_BITS = 8;
export const SESSION_BITS = 48;
export const EPOCH_BITS = 8;
const STEP_MASK = 0xffn;
const SESSION_MASK = (1n << 48n) - 1n;
const MAX_STEP = 255;

/** Returns the KID of session at step in epoch. */
export function makeKID(epoch, session, step) {
  return ((BigInt(epoch) & 0xffn) << 56n) | ((BigInt(session) & SESSION_MASK) << 8n) | (BigInt(step) & STEP_MASK);
}

/** Splits a KID into {epochBits, session, step}. */
export function splitKID(kid) {
  return { epochBits: Number(kid >> 56n), session: (kid >> 8n) & SESSION_MASK, step: Number(kid & STEP_MASK) };
}

/**
 * Returns how many leading bytes of frame stay in clear under codec: VP8 10 for a key frame
 * (bit 0 of byte 0 clear, RFC 6386 section 9.1) and 3 for a delta frame, Opus 1 (the TOC, RFC
 * 6716 section 3.1), none 0. Throws ShortFrameError when the frame is shorter.
 */
export function prefixLen(codec, frame) {
  let n;
  switch (codec) {
    case Codec.NONE: return 0;
    case Codec.VP8:
      if (frame.length === 0) throw new ShortFrameError();
      n = (frame[0] & 1) === 0 ? 10 : 3;
      break;
    case Codec.OPUS: n = 1; break;
    default: throw new TypeError(`mediaprofile: unknown codec ${JSON.stringify(codec)}: want none, vp8 or opus`);
  }
  if (frame.length < n) throw new ShortFrameError();
  return n;
}

/** Whether a VP8 frame, plaintext or on the wire, is a key frame. */
export function isKeyFrame(codec, frame) {
  return codec === Codec.VP8 && frame.length > 0 && (frame[0] & 1) === 0;
}

const enc = new TextEncoder();
const EXTRACT_SALT = enc.encode('Geofence media 1.0');
const SENDER_LABEL = enc.encode('Geofence media 1.0 sender ');

/**
 * The base key of step 0 of kid's session in epoch (docs/media-profile.md section 3):
 * HKDF(salt "Geofence media 1.0", IKM epoch key, info "Geofence media 1.0 sender " || suite ||
 * epoch || generation, Nh). epochKey is bytes or a non-extractable HKDF CryptoKey.
 */
export async function senderBaseKey(suite, epoch, epochKey, kid) {
  const p = suiteParams(suite);
  if (epochKey instanceof Uint8Array && epochKey.length < 16) throw new RangeError('mediaprofile: sender key: epoch key shorter than 16 bytes');
  const info = concat(SENDER_LABEL, u16bytes(suite), u64bytes(BigInt(epoch)), u64bytes(BigInt(kid) & ~STEP_MASK));
  return hkdf(p.hash, epochKey, EXTRACT_SALT, info, p.nh);
}

/**
 * Imports a 32-byte meeting key as a non-extractable HKDF CryptoKey, the form the page hands
 * to the media worker: the worker can derive from it but never read it.
 */
export function importEpochKey(raw) {
  return globalThis.crypto.subtle.importKey('raw', raw, 'HKDF', false, ['deriveBits']);
}

function randomSession() {
  const b = new Uint8Array(8);
  globalThis.crypto.getRandomValues(b.subarray(2));
  return new DataView(b.buffer).getBigUint64(0);
}

/**
 * ProfileSender seals the frames of one sending session. Create it with
 * ProfileSender.create({epoch, key}), key a CryptoKey from importEpochKey or bytes.
 */
export class ProfileSender {
  /** options: suite (default AES_256_GCM_SHA512_128), session (a 48-bit BigInt, for tests; default random). */
  static async create(epochKey, { suite = DEFAULT_SUITE, session } = {}) {
    const s = new ProfileSender();
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
    this._lock = p.then(() => {}, () => {});
    return p;
  }

  /** The KID of the next frame. */
  get kid() { return this.tx.kid; }

  /** At most how much longer a wire frame is than its frame. */
  get overhead() { return MAX_HEADER_LEN + overhead(this.suite); }

  /** Moves to the epoch of epochKey ({epoch, key}) with a new session. */
  rekey(epochKey) { return this._serial(() => this._start(epochKey)); }

  /** One section 5.1 ratchet step; after step 255, a new session instead. */
  ratchet() {
    return this._serial(async () => {
      if (splitKID(this.tx.kid).step === MAX_STEP) return this._start(this.epochKey);
      return this.tx.ratchet();
    });
  }

  /** Returns a promise of the wire frame of frame (a Uint8Array): prefix || SFrame ciphertext. */
  seal(codec, frame) {
    if (!(frame instanceof Uint8Array)) return Promise.reject(new TypeError('mediaprofile: seal: the frame must be a Uint8Array'));
    let n;
    try {
      n = prefixLen(codec, frame);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.tx.encryptAfterMetadata(frame.subarray(0, n), frame.subarray(n));
  }
}

/**
 * ProfileReceiver opens the frames of every sender of a meeting, holding the keys of up to
 * maxEpochs epochs (default 3) and maxSenders sessions per epoch (default 1024).
 */
export class ProfileReceiver {
  constructor({ suite = DEFAULT_SUITE, maxEpochs = 3, maxSenders = 1024 } = {}) {
    this.suite = suite;
    this.maxEpochs = maxEpochs;
    this.maxSenders = maxSenders;
    this.rx = new Receiver({ maxRatchetSteps: MAX_STEP });
    this._epochs = []; // {epoch, key, gens: Set}, oldest first
    this._gens = new Set(); // every epoch's gens: the senders whose frames authenticated
    this._lock = Promise.resolve();
    this._h = { kidHi: 0, kidLo: 0, ctrHi: 0, ctrLo: 0, length: 0 }; // see open
  }

  _serial(fn) {
    const p = this._lock.then(fn, fn);
    this._lock = p.then(() => {}, () => {});
    return p;
  }

  /** The epochs held, oldest first. */
  get epochs() { return this._epochs.map((e) => e.epoch); }

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
      this._epochs.push({ epoch, key: epochKey.key, gens: new Set() });
      this._epochs.sort((a, b) => (a.epoch < b.epoch ? -1 : a.epoch > b.epoch ? 1 : 0));
      while (this._epochs.length > this.maxEpochs) await this._remove(this._epochs[0].epoch);
    });
  }

  /** Forgets an epoch and every sender key derived from it. */
  removeEpoch(epoch) { return this._serial(() => this._remove(BigInt(epoch))); }

  async _remove(epoch) {
    const i = this._epochs.findIndex((e) => e.epoch === epoch);
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
    if (!(wire instanceof Uint8Array)) return Promise.reject(new TypeError('mediaprofile: open: the wire frame must be a Uint8Array'));
    // Fast path: a sender already known opens without queueing behind the others (the
    // SFrame receiver checks its replay window again after the await); a new sender, whose
    // key is derived and recorded, takes the queue.
    let n = -1;
    try {
      n = prefixLen(codec, wire);
    } catch { /* the queued path reports it */ }
    if (n >= 0) {
      const rest = wire.subarray(n);
      const h = this._h;
      const k = this.rx._fastKey(rest, h);
      // The session's generation: the KID without its ratchet step.
      if (k && this._gens.has(toBig(h.kidHi, (h.kidLo & ~0xff) >>> 0))) {
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
    } catch (e) {
      if (e instanceof ShortFrameError) throw new MalformedError('mediaprofile: open: wire frame shorter than its prefix');
      throw e;
    }
    const prefix = wire.subarray(0, n);
    const rest = wire.subarray(n);
    const h = parseHeader(rest);
    const gen = h.kid & ~STEP_MASK;
    const e = this._epochs.find((x) => (x.epoch & 0xffn) === (h.kid >> 56n));
    if (!e) throw new UnknownKeyError('mediaprofile: open: no key for the frame\'s epoch');
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
      // Keep only senders whose frames authenticate, so forged KIDs hold no memory.
      if (!known) await this.rx.removeKey(gen);
      throw err;
    }
    if (!known) {
      e.gens.add(gen);
      this._gens.add(gen);
    }
    return withPrefix(prefix, pt);
  }
}

// prefix || plaintext, the frame of an opened wire frame.
function withPrefix(prefix, pt) {
  const b = bytes(pt);
  const out = new Uint8Array(prefix.length + b.length);
  out.set(prefix);
  out.set(b, prefix.length);
  return out;
}

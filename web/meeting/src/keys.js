// Keys in the page: the participant's HPKE key pair (keywrap's suites, crypto/keywrap), the
// unwrapping of a meeting key (a key server's answer, or an e2ee leader's envelope), the
// wrapping of one to another participant's public key (the e2ee leader, src/e2ee.js), and the
// binding the wrap is made under. The unwrapped key is imported at once as a non-extractable CryptoKey and its
// bytes zeroed: it never leaves the page, and the worker sees only the CryptoKey.

import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256, Aes256Gcm } from '@hpke/core';
import { XWing } from '@hpke/hybridkem-x-wing';
import { b64url, unb64url } from './b64.js';

export { b64url, unb64url };

// The suites of crypto/keywrap, by their text names: same KEM, KDF and AEAD.
const SUITES = {
  x25519: () => new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() }),
  mlkem768x25519: () => new CipherSuite({ kem: new XWing(), kdf: new HkdfSha256(), aead: new Aes256Gcm() }),
};

// keywrap's infoLabel: changing it is a protocol change on both sides.
const INFO_LABEL = 'geofence meeting key v1';
const MAX_ID_LEN = 1024;

/** info encodes a binding exactly as keywrap.Binding.info does. */
export function bindingInfo({ meeting, epoch, participant }) {
  const enc = new TextEncoder();
  const parts = [];
  const str = (what, s) => {
    const b = enc.encode(s);
    if (what && b.length === 0) throw new Error(`keywrap binding: empty ${what}`);
    if (b.length > MAX_ID_LEN && what) throw new Error(`keywrap binding: ${what} longer than ${MAX_ID_LEN} bytes`);
    const n = new Uint8Array(2);
    new DataView(n.buffer).setUint16(0, b.length);
    parts.push(n, b);
  };
  str('', INFO_LABEL);
  str('meeting', meeting);
  const e = new Uint8Array(8);
  new DataView(e.buffer).setBigUint64(0, BigInt(epoch));
  parts.push(e);
  str('participant', participant);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/**
 * ParticipantKey is the page's HPKE key pair of one suite ('x25519' or 'mlkem768x25519').
 * publicKey is keywrap's text form, "<suite>:<base64url>", which the join request carries.
 */
export class ParticipantKey {
  static async generate(suiteName = 'x25519') {
    const make = SUITES[suiteName];
    if (!make) throw new Error(`unknown key suite ${JSON.stringify(suiteName)}: want x25519 or mlkem768x25519`);
    const k = new ParticipantKey();
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
    const [prefix, data] = String(wrapped).split(':', 2);
    if (prefix !== `${this.suiteName}-wrapped` || data === undefined) throw new Error(`wrapped key of suite ${JSON.stringify(prefix)}, want ${this.suiteName}-wrapped`);
    const bytes = unb64url(data);
    const encLen = this.suite.kem.encSize;
    if (bytes.length !== encLen + 32 + 16) throw new Error(`wrapped key is ${bytes.length} bytes, want ${encLen + 48}`);
    const recipient = await this.suite.createRecipientContext({
      recipientKey: this.pair.privateKey, enc: bytes.slice(0, encLen), info: bindingInfo(binding),
    });
    return new Uint8Array(await recipient.open(bytes.slice(encLen)));
  }
}

/**
 * wrapKey wraps the 32 bytes of key to publicKey (keywrap's text form "<suite>:<base64url>")
 * bound to binding, exactly as keywrap.Wrap does: HPKE base mode (RFC 9180 section 5.1.1) of
 * the key's suite, info = bindingInfo(binding), no AAD, and returns keywrap's text form
 * "<suite>-wrapped:<base64url(enc || ct)>".
 */
export async function wrapKey(publicKey, key, binding) {
  const s = String(publicKey);
  const i = s.indexOf(':');
  const suiteName = i < 0 ? s : s.slice(0, i);
  const make = SUITES[suiteName];
  if (!make || i < 0) throw new Error(`public key of suite ${JSON.stringify(suiteName)}: want x25519 or mlkem768x25519`);
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new Error('wrap: the meeting key must be 32 bytes');
  const suite = make();
  const raw = unb64url(s.slice(i + 1));
  const recipientPublicKey = await suite.kem.deserializePublicKey(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const sender = await suite.createSenderContext({ recipientPublicKey, info: bindingInfo(binding) });
  const ct = new Uint8Array(await sender.seal(key));
  const enc = new Uint8Array(sender.enc);
  const out = new Uint8Array(enc.length + ct.length);
  out.set(enc, 0);
  out.set(ct, enc.length);
  return `${suiteName}-wrapped:${b64url(out)}`;
}

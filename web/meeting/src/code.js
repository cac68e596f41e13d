// The meeting security code of E2EE meetings (crypto/e2ee SecurityCode, which states the
// derivation every client must follow): six groups of five digits from the epoch key, its
// epoch and the roster of participants' public keys, for users to compare out of band.

// e2ee's codeLabel: changing it is a protocol change on both sides.
const CODE_LABEL = 'geofence meeting security code v1';
const GROUPS = 6;
const BYTES_PER_GROUP = 5;

/**
 * Returns the code for epochKey (32 bytes, or an HKDF CryptoKey as the page holds it), epoch
 * and roster (the public keys' text forms, "<suite>:<base64url>", in any order). Throws on an
 * empty roster or one that lists a key twice.
 */
export async function securityCode(epochKey, epoch, roster) {
  if (!Array.isArray(roster) || roster.length === 0) throw new Error('security code: no participants');
  const keys = [...roster].map(String).sort(); // ASCII: code-unit order is byte order
  const enc = new TextEncoder();
  const parts = [];
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === '') throw new Error('security code: an empty public key');
    if (i > 0 && keys[i] === keys[i - 1]) throw new Error('security code: a public key listed twice');
    const b = enc.encode(keys[i]);
    parts.push(Uint8Array.of(b.length >> 8, b.length & 0xff), b);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { all.set(p, off); off += p.length; }
  const rosterHash = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  const label = enc.encode(CODE_LABEL);
  const info = new Uint8Array(label.length + 8 + rosterHash.length);
  info.set(label, 0);
  new DataView(info.buffer).setBigUint64(label.length, BigInt(epoch));
  info.set(rosterHash, label.length + 8);
  const key = epochKey instanceof Uint8Array
    ? await crypto.subtle.importKey('raw', epochKey, 'HKDF', false, ['deriveBits'])
    : epochKey;
  const okm = new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info }, key, GROUPS * BYTES_PER_GROUP * 8));
  const groups = [];
  for (let i = 0; i < GROUPS; i++) {
    const g = okm.subarray(i * BYTES_PER_GROUP, (i + 1) * BYTES_PER_GROUP);
    const v = g[0] * 2 ** 32 + ((g[1] << 24) >>> 0) + (g[2] << 16) + (g[3] << 8) + g[4];
    groups.push(String(v % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

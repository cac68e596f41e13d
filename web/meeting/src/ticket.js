// Ticket verification in the page: a ticket is a compact JWS signed with Ed25519 (alg EdDSA,
// typ geofence-ticket+jwt, package ticket), checked against the directory's published key set
// before the page believes a word of it. The join answer's lists are shown only once they are
// the signed ticket's.

import { unb64url } from './b64.js';

export const TOKEN_TYPE = 'geofence-ticket+jwt';
export const ISSUER = 'geofence';
export const JWKS_PATH = '/.well-known/jwks.json';
const LEEWAY_SECONDS = 60;
const MAX_TOKEN = 16 << 10;

function segment(s, what) {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(unb64url(s)));
  } catch (e) {
    throw new Error(`ticket: malformed ${what}: ${e.message}`);
  }
}

/**
 * Verifies token against jwks (the directory's {"keys": [...]}) at now (seconds) and returns
 * its claims. Throws an Error saying what is wrong.
 */
export async function verifyTicket(token, jwks, now = Date.now() / 1000) {
  if (typeof token !== 'string' || token.length > MAX_TOKEN) throw new Error('ticket: not a string of at most 16 KiB');
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => p === '')) throw new Error('ticket: not a compact JWS (three non-empty segments)');
  const header = segment(parts[0], 'header');
  if (header.alg !== 'EdDSA') throw new Error(`ticket: alg ${JSON.stringify(header.alg)}, want EdDSA`);
  if (header.typ !== TOKEN_TYPE) throw new Error(`ticket: typ ${JSON.stringify(header.typ)}, want ${TOKEN_TYPE}`);
  if (header.jwk || header.jku || header.x5u) throw new Error('ticket: the header names its own key');
  const jwk = (jwks?.keys ?? []).find((k) => k.kid === header.kid && k.kty === 'OKP' && k.crv === 'Ed25519' && (!k.use || k.use === 'sig'));
  if (!jwk) throw new Error(`ticket: key ${JSON.stringify(header.kid)} is not among the directory's published keys`);
  const key = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, { name: 'Ed25519' }, false, ['verify']);
  const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, unb64url(parts[2]), new TextEncoder().encode(`${parts[0]}.${parts[1]}`));
  if (!ok) throw new Error('ticket: the signature does not verify under the directory\'s key');
  const c = segment(parts[1], 'claims');
  if (c.iss !== ISSUER) throw new Error(`ticket: issuer ${JSON.stringify(c.iss)}, want ${ISSUER}`);
  if (typeof c.exp !== 'number' || now >= c.exp + LEEWAY_SECONDS) throw new Error('ticket: expired');
  if (typeof c.nbf === 'number' && now + LEEWAY_SECONDS < c.nbf) throw new Error('ticket: not yet valid (is a clock wrong?)');
  for (const f of ['meeting', 'sub', 'account', 'mode', 'home']) {
    if (typeof c[f] !== 'string' || c[f] === '') throw new Error(`ticket: no ${f}`);
  }
  return c;
}

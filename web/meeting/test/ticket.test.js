// The page verifies its ticket (src/ticket.js) before it believes a word of it: a ticket signed
// by the directory's key passes; one altered, signed by another key, of another type or
// expired is refused with an Error; random input is refused with an Error, never another
// exception.
import './webcrypto.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyTicket, TOKEN_TYPE } from '../src/ticket.js';
import { b64url } from '../src/b64.js';

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const now = 1_800_000_000;

async function keyPair(kid) {
  const kp = await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const jwk = await subtle.exportKey('jwk', kp.publicKey);
  return { kp, jwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, use: 'sig', alg: 'EdDSA' } };
}

async function sign(kp, header, claims) {
  const h = b64url(enc.encode(JSON.stringify(header)));
  const p = b64url(enc.encode(JSON.stringify(claims)));
  const sig = new Uint8Array(await subtle.sign({ name: 'Ed25519' }, kp.privateKey, enc.encode(`${h}.${p}`)));
  return `${h}.${p}.${b64url(sig)}`;
}

const claims = { iss: 'geofence', sub: 'alice', meeting: 'm1', account: 'acme', mode: 'managed', home: 'us-nyc', region: 'na',
  primary: [], iat: now - 10, nbf: now - 10, exp: now + 300, jti: 'x' };
const header = { alg: 'EdDSA', kid: 'k1', typ: TOKEN_TYPE };

test('a ticket signed by a published key verifies; others are refused', async () => {
  const { kp, jwk } = await keyPair('k1');
  const other = await keyPair('k1');
  const jwks = { keys: [jwk] };
  const good = await sign(kp, header, claims);
  assert.equal((await verifyTicket(good, jwks, now)).sub, 'alice');

  const refusals = {
    'another key': await sign(other.kp, header, claims),
    'unknown kid': await sign(kp, { ...header, kid: 'k2' }, claims),
    'wrong typ': await sign(kp, { ...header, typ: 'JWT' }, claims),
    'alg none': await sign(kp, { ...header, alg: 'none' }, claims),
    'embedded jwk': await sign(kp, { ...header, jwk }, claims),
    'wrong issuer': await sign(kp, header, { ...claims, iss: 'evil' }),
    expired: await sign(kp, header, { ...claims, exp: now - 120 }),
    'not yet valid': await sign(kp, header, { ...claims, nbf: now + 600 }),
    'no meeting': await sign(kp, header, { ...claims, meeting: '' }),
    'altered claims': good.split('.').map((s, i) => (i === 1 ? b64url(enc.encode(JSON.stringify({ ...claims, sub: 'mallory' }))) : s)).join('.'),
  };
  for (const [name, token] of Object.entries(refusals)) {
    await assert.rejects(verifyTicket(token, jwks, now), (e) => e instanceof Error && /^ticket: /.test(e.message), name);
  }
});

test('random input is refused with an Error', async () => {
  const { jwk } = await keyPair('k1');
  let x = 20261201;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const alphabet = 'ABCabc019-_.=+/ {}"';
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const n = next() % 80;
    for (let j = 0; j < n; j++) s += alphabet[next() % alphabet.length];
    await assert.rejects(verifyTicket(s, { keys: [jwk] }, now), (e) => e instanceof Error && /^ticket: /.test(e.message), s);
  }
  for (const bad of [null, 42, {}, 'a'.repeat(20000)]) {
    await assert.rejects(verifyTicket(bad, { keys: [jwk] }, now), Error);
  }
});

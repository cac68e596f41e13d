import './webcrypto.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Receiver, Sender, Suite, encodeHeader, parseHeader, deriveKeySalt, ratchetBaseKey,
  MalformedError, AuthError, ReplayError, UnknownKeyError, REPLAY_WINDOW,
} from '../src/sframe.js';
import { sharedJSON, hex } from './paths.js';

const RFC = 'vectors/sframe-rfc9605-test-vectors.json';

test('RFC 9605 header vectors', (t) => {
  const v = sharedJSON(t, RFC);
  if (!v) return;
  assert.ok(v.header.length > 100);
  for (const h of v.header) {
    const kid = BigInt(h.kid);
    const ctr = BigInt(h.ctr);
    assert.equal(hex.encode(encodeHeader(kid, ctr)), h.encoded, `encode KID ${kid} CTR ${ctr}`);
    const got = parseHeader(hex.decode(h.encoded + 'ff'));
    assert.deepEqual(got, { kid, ctr, length: h.encoded.length / 2 });
  }
});

test('RFC 9605 encryption vectors, every suite', async (t) => {
  const v = sharedJSON(t, RFC);
  if (!v) return;
  assert.equal(v.sframe.length, 5);
  for (const x of v.sframe) {
    const suite = x.cipher_suite;
    const base = hex.decode(x.base_key);
    const { key, salt } = await deriveKeySalt(suite, BigInt(x.kid), base);
    assert.equal(hex.encode(key), x.sframe_key, `suite ${suite} key`);
    assert.equal(hex.encode(salt), x.sframe_salt, `suite ${suite} salt`);
    const s = await Sender.create(suite, BigInt(x.kid), base);
    s.advanceCounter(BigInt(x.ctr));
    const ct = await s.encrypt(hex.decode(x.metadata), hex.decode(x.pt));
    assert.equal(hex.encode(ct), x.ct, `suite ${suite} ciphertext`);
    const r = new Receiver();
    await r.addKey(suite, BigInt(x.kid), base);
    assert.equal(hex.encode(await r.decrypt(hex.decode(x.metadata), hex.decode(x.ct))), x.pt);
    await assert.rejects(r.decrypt(hex.decode(x.metadata), hex.decode(x.ct)), ReplayError);
    const bad = hex.decode(x.ct);
    bad[bad.length - 1] ^= 1;
    const r2 = new Receiver();
    await r2.addKey(suite, BigInt(x.kid), base);
    await assert.rejects(r2.decrypt(hex.decode(x.metadata), bad), AuthError);
    await assert.rejects(r2.decrypt(new Uint8Array(0), hex.decode(x.ct)), AuthError);
  }
});

test('malformed headers', async () => {
  const r = new Receiver();
  const cases = [[], [0x80, 0x07], [0xff, 1, 2, 3, 4, 5, 6], [0x08]];
  for (const c of cases) {
    assert.throws(() => parseHeader(Uint8Array.from(c)), MalformedError, `header ${c}`);
    await assert.rejects(r.decrypt(new Uint8Array(0), Uint8Array.from(c)), MalformedError);
  }
  await assert.rejects(r.decrypt(new Uint8Array(0), Uint8Array.from([0x12, 1, 2])), UnknownKeyError);
  await r.addKey(Suite.AES_128_GCM_SHA256_128, 1n, new Uint8Array(16));
  await assert.rejects(r.decrypt(new Uint8Array(0), Uint8Array.from([0x12, 1, 2])), MalformedError);
});

test('ratchet: the receiver follows and keeps one older step', async () => {
  const base = new Uint8Array(32).fill(7);
  const suite = Suite.AES_256_GCM_SHA512_128;
  const s = await Sender.create(suite, 5n << 4n, base, { ratchetBits: 4 });
  const r = new Receiver();
  await r.addRatchetKey(suite, 5n << 4n, 4, base);
  const old = await s.encrypt(new Uint8Array(0), Uint8Array.from([1]));
  await s.ratchet();
  assert.equal(s.kid, (5n << 4n) | 1n);
  const fresh = await s.encrypt(new Uint8Array(0), Uint8Array.from([2]));
  assert.deepEqual(await r.decrypt(new Uint8Array(0), fresh), Uint8Array.from([2]));
  assert.deepEqual(await r.decrypt(new Uint8Array(0), old), Uint8Array.from([1]));
  // The ratchet key is the RFC's: the next step's base key.
  const next = await ratchetBaseKey(suite, base);
  const r2 = new Receiver();
  await r2.addKey(suite, (5n << 4n) | 1n, next);
  const again = await s.encrypt(new Uint8Array(0), Uint8Array.from([3]));
  assert.deepEqual(await r2.decrypt(new Uint8Array(0), again), Uint8Array.from([3]));
});

test('replay window', async () => {
  const base = new Uint8Array(16).fill(1);
  const suite = Suite.AES_128_GCM_SHA256_128;
  const s = await Sender.create(suite, 3n, base);
  const frames = [];
  for (let i = 0; i < REPLAY_WINDOW + 2; i++) frames.push(await s.encrypt(new Uint8Array(0), Uint8Array.from([i])));
  const r = new Receiver();
  await r.addKey(suite, 3n, base);
  await r.decrypt(new Uint8Array(0), frames[REPLAY_WINDOW + 1]);
  await assert.rejects(r.decrypt(new Uint8Array(0), frames[0]), ReplayError);
  await r.decrypt(new Uint8Array(0), frames[2]);
  await assert.rejects(r.decrypt(new Uint8Array(0), frames[2]), ReplayError);
  await r.decrypt(new Uint8Array(0), frames[3]);
});

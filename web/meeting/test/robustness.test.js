// The JavaScript receiver takes untrusted wire frames: random frames and random mutations of
// genuine ones must be rejected with one of the profile's errors, never another exception,
// and only genuine frames may open. (The Go implementation has a native fuzz test, FuzzOpen.)
import './webcrypto.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Codec, ProfileReceiver, ProfileSender } from '../src/profile.js';
import { parseHeader, encodeHeader } from '../src/sframe.js';

const NAMES = new Set(['MalformedError', 'UnknownKeyError', 'AuthError', 'ReplayError', 'TooManySendersError']);

// A small deterministic generator (xorshift32), so a failure is reproducible from its seed.
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

test('random and mutated wire frames are rejected cleanly', async () => {
  const ek = { epoch: 3n, key: new Uint8Array(32).fill(9) };
  const s = await ProfileSender.create(ek, { session: 0x1234n });
  const genuine = [];
  for (const [codec, f] of [[Codec.VP8, Uint8Array.of(0x50, ...Array(30).fill(1))], [Codec.VP8, Uint8Array.of(0x31, 2, 3, 4)], [Codec.OPUS, Uint8Array.of(0xfc, 5)], [Codec.NONE, Uint8Array.of(6)]]) {
    genuine.push({ codec, wire: await s.seal(codec, f), frame: f });
  }
  const next = rng(20261201);
  const codecs = Object.values(Codec);
  for (let i = 0; i < 3000; i++) {
    const r = new ProfileReceiver();
    await r.addEpoch(ek);
    let codec;
    let wire;
    if (i % 2 === 0) {
      codec = codecs[next() % codecs.length];
      wire = Uint8Array.from({ length: next() % 48 }, () => next() & 0xff);
    } else {
      const g = genuine[next() % genuine.length];
      codec = g.codec;
      wire = g.wire.slice(0, g.wire.length - (next() % 3 === 0 ? next() % g.wire.length : 0));
      const flips = 1 + (next() % 3);
      for (let j = 0; j < flips && wire.length; j++) wire[next() % wire.length] ^= 1 << (next() % 8);
    }
    try {
      const pt = await r.open(codec, wire);
      const g = genuine.find((x) => x.codec === codec && Buffer.from(x.wire).equals(Buffer.from(wire)));
      assert.ok(g, `case ${i}: a frame that was never sealed opened: ${Buffer.from(wire).toString('hex')}`);
      assert.deepEqual(pt, g.frame);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(NAMES.has(e.name), `case ${i}: ${codec} ${Buffer.from(wire).toString('hex')}: unexpected ${e.name}: ${e.message}`);
    }
  }
});

test('every header round-trips and encodes minimally', () => {
  const next = rng(7);
  for (let i = 0; i < 2000; i++) {
    const kid = (BigInt(next()) << 32n | BigInt(next())) >> BigInt(next() % 64);
    const ctr = (BigInt(next()) << 32n | BigInt(next())) >> BigInt(next() % 64);
    const h = encodeHeader(kid, ctr);
    assert.deepEqual(parseHeader(h), { kid, ctr, length: h.length });
  }
});

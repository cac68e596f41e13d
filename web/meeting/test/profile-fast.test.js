// The receiver's fast path (a sender already known, opened without the queue) takes untrusted
// wire frames too: mutations of genuine frames of a known sender must be rejected with one of
// the profile's errors, never another exception, only genuine frames may open, and a
// rejected frame must not move the replay window or disturb the frames after it.
import './webcrypto.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Codec, ProfileReceiver, ProfileSender, ReplayError } from '../src/profile.js';

const NAMES = new Set(['MalformedError', 'UnknownKeyError', 'AuthError', 'ReplayError', 'TooManySendersError']);

function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

test('mutated frames of a known sender are rejected cleanly on the fast path', async () => {
  const ek = { epoch: 5n, key: new Uint8Array(32).fill(4) };
  const s = await ProfileSender.create(ek, { session: 0xbeefn });
  const r = new ProfileReceiver();
  await r.addEpoch(ek);
  const first = Uint8Array.of(0x31, 1, 2, 3);
  assert.deepEqual(await r.open(Codec.VP8, await s.seal(Codec.VP8, first)), first); // now known
  const next = rng(20261202);
  const frames = [[Codec.VP8, 0x50, 30], [Codec.VP8, 0x31, 200], [Codec.OPUS, 0xfc, 40], [Codec.NONE, 7, 5]];
  for (let i = 0; i < 2000; i++) {
    const [codec, b0, n] = frames[next() % frames.length];
    const frame = Uint8Array.from({ length: n }, (_, j) => (j === 0 ? b0 : next() & 0xff));
    const genuine = await s.seal(codec, frame);
    const wire = genuine.slice(0, genuine.length - (next() % 3 === 0 ? next() % genuine.length : 0));
    const flips = next() % 3; // sometimes none: a genuine or only truncated frame
    for (let j = 0; j < flips && wire.length; j++) wire[next() % wire.length] ^= 1 << (next() % 8);
    let pt = null;
    try {
      pt = await r.open(codec, wire);
    } catch (e) {
      assert.ok(NAMES.has(e.name), `case ${i}: ${codec} ${Buffer.from(wire).toString('hex')}: unexpected ${e.name}: ${e.message}`);
    }
    if (pt) {
      assert.ok(Buffer.from(wire).equals(Buffer.from(genuine)), `case ${i}: a frame that was never sealed opened`);
      assert.deepEqual(pt, frame);
      await assert.rejects(r.open(codec, wire), ReplayError);
    } else {
      // The genuine frame still opens: the rejected one moved nothing.
      assert.deepEqual(await r.open(codec, genuine), frame, `case ${i}: genuine frame after a rejected one`);
    }
  }
});

test('frames that are not Uint8Arrays are refused with a TypeError, as a rejection', async () => {
  const ek = { epoch: 6n, key: new Uint8Array(32).fill(8) };
  const s = await ProfileSender.create(ek);
  const r = new ProfileReceiver();
  await r.addEpoch(ek);
  const wire = await s.seal(Codec.VP8, Uint8Array.of(0x31, 1, 2, 3));
  for (const bad of [wire.buffer, Array.from(wire), 'frame', null]) {
    await assert.rejects(s.seal(Codec.VP8, bad), TypeError);
    await assert.rejects(r.open(Codec.VP8, bad), TypeError);
    await assert.rejects(s.tx.encrypt(new Uint8Array(0), bad), TypeError);
    await assert.rejects(r.rx.decrypt(new Uint8Array(0), bad), TypeError);
    await assert.rejects(s.tx.encrypt(bad ?? 1, new Uint8Array(1)), TypeError);
  }
  assert.deepEqual(await r.open(Codec.VP8, wire), Uint8Array.of(0x31, 1, 2, 3));
});

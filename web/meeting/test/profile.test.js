import './webcrypto.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Codec, ProfileReceiver, ProfileSender, ShortFrameError, TooManySendersError, importEpochKey,
  isKeyFrame, makeKID, prefixLen, senderBaseKey, splitKID,
} from '../src/profile.js';
import { AuthError, MalformedError, ReplayError, UnknownKeyError, Suite } from '../src/sframe.js';
import { hex, profileVectors } from './paths.js';

function randomKey(epoch) {
  return { epoch: BigInt(epoch), key: globalThis.crypto.getRandomValues(new Uint8Array(32)) };
}

const delta = (n) => Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0x31 : i * 7));
const key = (n) => Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0x50 : i * 5));

test('profile vectors from the Go implementation', async () => {
  const { vectors } = profileVectors();
  assert.ok(vectors.length >= 10);
  for (const v of vectors) {
    const ek = { epoch: BigInt(v.epoch), key: hex.decode(v.epoch_key) };
    const kid = BigInt(`0x${v.kid}`);
    assert.equal(makeKID(v.epoch, BigInt(`0x${v.session}`), v.step), kid, `${v.name}: KID`);
    const base = await senderBaseKey(v.suite, ek.epoch, ek.key, kid);
    assert.equal(hex.encode(base), v.base_key, `${v.name}: base key`);
    const s = await ProfileSender.create(ek, { suite: v.suite, session: BigInt(`0x${v.session}`) });
    for (let i = 0; i < v.step; i++) await s.ratchet();
    s.tx.advanceCounter(BigInt(`0x${v.ctr}`));
    assert.equal(s.kid, kid);
    const frame = hex.decode(v.plaintext);
    assert.equal(hex.encode(frame.subarray(0, prefixLen(v.codec, frame))), v.prefix, `${v.name}: prefix`);
    assert.equal(hex.encode(await s.seal(v.codec, frame)), v.wire, `${v.name}: wire`);
    // A receiver given the epoch key, as a non-extractable CryptoKey, opens it.
    const r = new ProfileReceiver({ suite: v.suite });
    await r.addEpoch({ epoch: ek.epoch, key: await importEpochKey(ek.key) });
    assert.equal(hex.encode(await r.open(v.codec, hex.decode(v.wire))), v.plaintext, `${v.name}: open`);
  }
});

test('prefix rules', () => {
  assert.equal(prefixLen(Codec.VP8, key(100)), 10);
  assert.equal(prefixLen(Codec.VP8, delta(100)), 3);
  assert.equal(prefixLen(Codec.OPUS, Uint8Array.of(0xfc)), 1);
  assert.equal(prefixLen(Codec.NONE, new Uint8Array(0)), 0);
  for (const [c, f] of [[Codec.VP8, new Uint8Array(0)], [Codec.VP8, key(9)], [Codec.VP8, delta(2)], [Codec.OPUS, new Uint8Array(0)]]) {
    assert.throws(() => prefixLen(c, f), ShortFrameError);
  }
  assert.throws(() => prefixLen('h264', key(20)), TypeError);
  assert.ok(isKeyFrame(Codec.VP8, key(20)));
  assert.ok(!isKeyFrame(Codec.VP8, delta(20)));
});

test('KID layout', () => {
  const k = makeKID(0x1ff, 0xabcdef123456n, 7);
  assert.equal(k, 0xffabcdef12345607n);
  assert.deepEqual(splitKID(k), { epochBits: 0xff, session: 0xabcdef123456n, step: 7 });
});

test('seal and open, errors told apart', async () => {
  const k1 = randomKey(1);
  const s = await ProfileSender.create(k1);
  const r = new ProfileReceiver();
  await r.addEpoch(k1);
  const frame = delta(300);
  const wire = await s.seal(Codec.VP8, frame);
  assert.deepEqual(wire.subarray(0, 3), frame.subarray(0, 3));
  assert.ok(wire.length <= frame.length + s.overhead);
  assert.deepEqual(await r.open(Codec.VP8, wire), frame);
  await assert.rejects(r.open(Codec.VP8, wire), ReplayError);
  await assert.rejects(r.open(Codec.VP8, wire.subarray(0, 2)), MalformedError);
  await assert.rejects(r.open(Codec.VP8, wire.subarray(0, 5)), MalformedError);
  const w2 = await s.seal(Codec.VP8, frame);
  const altered = w2.slice();
  altered[1] ^= 1;
  await assert.rejects(r.open(Codec.VP8, altered), AuthError);
  const other = new ProfileReceiver();
  await other.addEpoch(randomKey(1));
  await assert.rejects(other.open(Codec.VP8, w2), AuthError);
  const none = new ProfileReceiver();
  await none.addEpoch(randomKey(2));
  await assert.rejects(none.open(Codec.VP8, w2), UnknownKeyError);
  assert.deepEqual(await r.open(Codec.VP8, w2), frame);
  await assert.rejects(s.seal(Codec.VP8, delta(2)), ShortFrameError);
  // A known sender's frame (the fast path) cut inside its tag, or to its header.
  const w3 = await s.seal(Codec.VP8, frame);
  const hl = w3.length - frame.length - 16;
  for (const cut of [3 + hl, 3 + hl + 15, 3 + hl + 16]) {
    await assert.rejects(r.open(Codec.VP8, w3.subarray(0, cut)), cut < 3 + hl + 16 ? MalformedError : AuthError, `cut at ${cut}`);
  }
  assert.deepEqual(await r.open(Codec.VP8, w3), frame);
  // Frames of a known sender opened all at once, in any order within the window.
  const many = await Promise.all(Array.from({ length: 64 }, (_, i) => s.seal(Codec.VP8, delta(20 + i))));
  const opened = await Promise.all(many.map((w) => r.open(Codec.VP8, w)).reverse());
  opened.reverse().forEach((f, i) => assert.equal(f.length, 20 + i));
});

test('rekey overlap, rejoin and ratchet', async () => {
  const k1 = randomKey(1);
  const k2 = randomKey(2);
  const s = await ProfileSender.create(k1);
  const again = await ProfileSender.create(k1); // the same participant, rejoined
  assert.notEqual(s.kid, again.kid);
  const r = new ProfileReceiver({ maxEpochs: 2 });
  await r.addEpoch(k1);
  const late = await s.seal(Codec.OPUS, Uint8Array.of(0xfc, 1, 2, 3));
  await r.addEpoch(k2);
  await s.rekey(k2);
  assert.equal(splitKID(s.kid).epochBits, 2);
  const fresh = await s.seal(Codec.OPUS, Uint8Array.of(0xfc, 4));
  assert.deepEqual(await r.open(Codec.OPUS, fresh), Uint8Array.of(0xfc, 4));
  assert.deepEqual(await r.open(Codec.OPUS, late), Uint8Array.of(0xfc, 1, 2, 3));
  assert.deepEqual(await r.open(Codec.OPUS, await again.seal(Codec.OPUS, Uint8Array.of(0xfc))), Uint8Array.of(0xfc));
  for (let i = 0; i < 3; i++) await s.ratchet();
  assert.equal(splitKID(s.kid).step, 3);
  assert.deepEqual(await r.open(Codec.OPUS, await s.seal(Codec.OPUS, Uint8Array.of(0xfc, 9))), Uint8Array.of(0xfc, 9));
  await r.addEpoch(randomKey(3));
  assert.deepEqual(r.epochs, [2n, 3n]);
  await assert.rejects(r.open(Codec.OPUS, await again.seal(Codec.OPUS, Uint8Array.of(0xfc))), UnknownKeyError);
});

test('too many senders; forged sessions hold nothing', async () => {
  const k = randomKey(1);
  const r = new ProfileReceiver({ maxSenders: 1 });
  await r.addEpoch(k);
  const forger = await ProfileSender.create(randomKey(1));
  for (let i = 0; i < 3; i++) await assert.rejects(r.open(Codec.NONE, await forger.seal(Codec.NONE, Uint8Array.of(i))), AuthError);
  const a = await ProfileSender.create(k);
  const b = await ProfileSender.create(k);
  assert.deepEqual(await r.open(Codec.NONE, await a.seal(Codec.NONE, Uint8Array.of(1))), Uint8Array.of(1));
  await assert.rejects(r.open(Codec.NONE, await b.seal(Codec.NONE, Uint8Array.of(1))), TooManySendersError);
});

test('every suite round-trips', async () => {
  for (const suite of Object.values(Suite)) {
    const k = randomKey(5);
    const s = await ProfileSender.create(k, { suite });
    const r = new ProfileReceiver({ suite });
    await r.addEpoch(k);
    const f = key(64);
    assert.deepEqual(await r.open(Codec.VP8, await s.seal(Codec.VP8, f)), f, `suite ${suite}`);
  }
});

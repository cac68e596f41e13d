import './webcrypto.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMediaCrypto } from '../src/worker.js';
import { importEpochKey } from '../src/profile.js';

// A transformer as RTCRtpScriptTransform gives one: encoded frames in, encoded frames out.
function fakeTransformer(options, frames) {
  const out = [];
  return {
    options,
    out,
    readable: new ReadableStream({
      start(c) { for (const f of frames) c.enqueue(f); c.close(); },
    }),
    writable: new WritableStream({ write(f) { out.push(f); } }),
  };
}

const frame = (bytes, type) => ({ data: Uint8Array.from(bytes).buffer, type });

test('the worker seals and opens VP8 and Opus frames and counts failures', async () => {
  const posted = [];
  const raw = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const key = await importEpochKey(raw);
  const alice = createMediaCrypto({ post: (m) => posted.push(m) });
  const bob = createMediaCrypto({ post: (m) => posted.push(m) });
  for (const w of [alice, bob]) await w.onMessage({ type: 'epoch', epoch: 4n, key });

  // Before 'send', nothing leaves in clear.
  const early = fakeTransformer({ side: 'send', codec: 'vp8', id: 'v0' }, [frame([0x31, 1, 2, 3])]);
  await alice.transform(early);
  assert.equal(early.out.length, 0);
  await alice.onMessage({ type: 'send', epoch: 4n });

  const vp8 = [frame([0x50, ...Array(40).fill(9)], 'key'), frame([0x31, 5, 6, 7, 8], 'delta'), frame([0x31, 1], 'delta')];
  const tv = fakeTransformer({ side: 'send', codec: 'vp8', id: 'v' }, vp8.map((f) => ({ ...f, data: f.data.slice(0) })));
  await alice.transform(tv);
  assert.equal(tv.out.length, 2, 'the 2-byte delta frame is dropped');
  const opus = fakeTransformer({ side: 'send', codec: 'opus', id: 'a' }, [frame([0xfc, 1, 2, 3])]);
  await alice.transform(opus);

  const wires = tv.out.map((f) => f.data);
  const tampered = new Uint8Array(wires[1].slice(0));
  tampered[tampered.length - 1] ^= 1;
  const rv = fakeTransformer({ side: 'receive', codec: 'vp8', id: 'rv' }, [
    { data: wires[0], type: 'key' }, { data: tampered.buffer, type: 'delta' }, { data: wires[1], type: 'delta' },
    { data: wires[1], type: 'delta' }, { data: new Uint8Array([0x31]).buffer, type: 'delta' },
    { data: new ArrayBuffer(0), type: 'delta' },
  ]);
  await bob.transform(rv);
  assert.deepEqual(new Uint8Array(rv.out[0].data), new Uint8Array(vp8[0].data));
  assert.deepEqual(new Uint8Array(rv.out[1].data), new Uint8Array(vp8[1].data));
  assert.equal(rv.out.length, 2);
  const ra = fakeTransformer({ side: 'receive', codec: 'opus', id: 'ra' }, opus.out);
  await bob.transform(ra);
  assert.deepEqual(new Uint8Array(ra.out[0].data), Uint8Array.of(0xfc, 1, 2, 3));

  await bob.onMessage({ type: 'stats' });
  const s = posted.find((m) => m.type === 'stats').transforms.find((t) => t.id === 'rv');
  assert.deepEqual(s.failures, { malformed: 1, unknownKey: 0, auth: 1, replay: 1, tooManySenders: 0, other: 0 });
  assert.equal(s.dropped.empty, 1);
  const sent = alice.stats().find((t) => t.id === 'v');
  assert.equal(sent.dropped.shortFrame, 1);
  assert.equal(alice.stats().find((t) => t.id === 'v0').dropped.noKey, 1);
  assert.ok(!posted.some((m) => m.type === 'error'), JSON.stringify(posted.filter((m) => m.type === 'error')));
});

test('the worker re-keys its senders and reports bad messages', async () => {
  const posted = [];
  const w = createMediaCrypto({ post: (m) => posted.push(m) });
  await w.onMessage({ type: 'send', epoch: 9n });
  await w.onMessage({ type: 'nonsense' });
  assert.equal(posted.filter((m) => m.type === 'error').length, 2);
  const k1 = await importEpochKey(new Uint8Array(32).fill(1));
  const k2 = await importEpochKey(new Uint8Array(32).fill(2));
  await w.onMessage({ type: 'epoch', epoch: 1n, key: k1 });
  await w.onMessage({ type: 'send', epoch: 1n });
  const frames = [];
  let wrote;
  const first = new Promise((r) => { wrote = r; });
  let release;
  const gate = new Promise((r) => { release = r; });
  const t = {
    options: { side: 'send', codec: 'opus', id: 's' },
    readable: new ReadableStream({
      async start(c) { c.enqueue(frame([0xfc, 1])); await gate; c.enqueue(frame([0xfc, 2])); c.close(); },
    }),
    writable: new WritableStream({ write(f) { frames.push(f); wrote(); } }),
  };
  const done = w.transform(t);
  await first; // the first frame is sealed under epoch 1
  const kid1 = w.stats()[0].kid;
  await w.onMessage({ type: 'epoch', epoch: 2n, key: k2 });
  await w.onMessage({ type: 'send', epoch: 2n });
  release();
  await done;
  const kid2 = w.stats()[0].kid;
  assert.ok(kid1.startsWith('1') && kid2.startsWith('2') && kid1.length === 15, `${kid1} then ${kid2}`);
  assert.equal(frames.length, 2);
});

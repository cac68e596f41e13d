// The page's e2ee leader flow (src/e2ee.js) among pages joined by a relay that plays the media
// servers: the leader's key reaches everyone, a join keeps the epoch, a leave rotates and the
// one who left gets nothing, a new leader continues above the epochs in use, and a page
// refuses envelopes from anyone but the leader, for another participant, or for an old epoch.
import './webcrypto.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParticipantKey } from '../src/keys.js';
import { KeyFlow } from '../src/e2ee.js';

const MEETING = 'm-e2ee';

/** relay is the media servers: it names the leader and relays envelopes, as sfu does. */
function relay() {
  const pages = new Map(); // ref -> page
  const r = {
    pages, leader: null, maxEpoch: 0, sent: [], coalesce: 0, later: [],
    async join(ref, suite = 'x25519') {
      const pkey = await ParticipantKey.generate(suite);
      const page = { ref, pkey, keys: [], queue: [] };
      page.flow = new KeyFlow({
        meeting: MEETING, pkey, coalesce: r.coalesce, schedule: (fn) => r.later.push(fn),
        send: (m) => { r.sent.push({ from: ref, m }); page.queue.push(m); },
        onKey: (epoch, raw) => { page.keys.push({ epoch, raw: Buffer.from(raw).toString('hex') }); raw.fill(0); },
      });
      const others = [...pages.values()].map((p) => ({ ref: p.ref, public_key: p.pkey.publicKey }));
      pages.set(ref, page);
      if (!r.leader) r.leader = ref;
      await page.flow.joined({ participant: { ref }, participants: others, leader: { ref: r.leader, epoch: r.maxEpoch } });
      for (const p of pages.values()) if (p !== page) await p.flow.participantJoined({ ref, public_key: pkey.publicKey });
      await r.flush();
      return page;
    },
    async leave(ref) {
      pages.delete(ref);
      for (const p of pages.values()) await p.flow.participantLeft(ref);
      if (r.leader === ref) {
        r.leader = pages.keys().next().value ?? null;
        for (const p of pages.values()) await p.flow.leader({ ref: r.leader, epoch: r.maxEpoch });
      }
      await r.flush();
    },
    /** flush delivers every envelope sent, as the server does after its checks. */
    async flush() {
      for (let again = true; again;) {
        again = false;
        for (const fn of r.later.splice(0)) { again = true; await fn(); }
        for (const p of pages.values()) {
          for (const m of p.queue.splice(0)) {
            again = true;
            assert.equal(p.ref, r.leader, 'only the leader sends envelopes');
            const to = pages.get(m.participant.ref);
            if (!to) continue;
            r.maxEpoch = Math.max(r.maxEpoch, m.key.epoch);
            await to.flow.key(p.ref, m.key);
          }
        }
      }
    },
  };
  return r;
}

const last = (p) => p.keys.at(-1);

test('everyone holds the leader\'s key and shows the same code', async () => {
  const r = relay();
  const a = await r.join('pa');
  const b = await r.join('pb', 'mlkem768x25519');
  assert.equal(a.flow.state.isLeader, true);
  assert.equal(b.flow.state.leader, 'pa');
  assert.deepEqual(last(b), last(a));
  assert.equal(b.flow.state.epoch, 1);
  assert.match(a.flow.state.code, /^\d{5}( \d{5}){5}$/);
  assert.equal(b.flow.state.code, a.flow.state.code);
  const before = a.flow.state.code;
  const c = await r.join('pc');
  assert.equal(c.flow.state.epoch, 1, 'a join keeps the epoch');
  assert.deepEqual(last(c), last(a));
  assert.notEqual(a.flow.state.code, before, 'the roster changed, so the code did');
  assert.equal(c.flow.state.code, a.flow.state.code);

  await r.leave('pc');
  assert.equal(a.flow.state.epoch, 2, 'a leave rotates');
  assert.deepEqual(last(b), last(a));
  assert.equal(last(c).epoch, 1, 'the one who left gets no new epoch');
  assert.notEqual(last(a).raw, last(c).raw);
  assert.equal(b.flow.state.code, a.flow.state.code);
  assert.equal(b.flow.state.ignored, 0);
});

test('a new leader continues above every epoch in use', async () => {
  const r = relay();
  const a = await r.join('pa');
  const b = await r.join('pb');
  const c = await r.join('pc');
  await r.leave('pc');
  await r.join('pd');
  const d = r.pages.get('pd');
  await r.leave('pa');
  assert.equal(b.flow.state.isLeader, true);
  assert.equal(b.flow.state.epoch, 3, 'above epoch 2, which it held');
  assert.deepEqual(last(d), last(b));
  assert.equal(d.flow.state.ignored, 0, 'no one refuses the new leader as stale');
  assert.equal(d.flow.state.code, b.flow.state.code);
  assert.ok(last(a).epoch < 3 && last(c).epoch < 3);
});

test('a page refuses envelopes it must not take', async () => {
  const r = relay();
  const a = await r.join('pa');
  const b = await r.join('pb');
  const c = await r.join('pc');
  // The leader deals a new epoch; a relay that misbehaves delivers its envelopes wrongly.
  const held = last(b);
  await a.flow._deal(a.flow.lead.epoch + 1);
  const forC = a.queue.find((m) => m.participant.ref === 'pc');
  const forB = a.queue.find((m) => m.participant.ref === 'pb');
  a.queue.length = 0;
  const cases = [
    { name: 'for another participant', from: 'pa', env: forC.key },
    { name: 'from someone who is not the leader', from: 'pc', env: forB.key },
    { name: 'for another meeting', from: 'pa', env: { ...forB.key, meeting: 'm-other' } },
    { name: 'with its epoch rewritten', from: 'pa', env: { ...forB.key, epoch: forB.key.epoch + 1 } },
    { name: 'for a stale epoch', from: 'pa', env: { ...forB.key, epoch: 1 } },
  ];
  for (const tc of cases) {
    const n = b.flow.state.ignored;
    assert.equal(await b.flow.key(tc.from, tc.env), false, tc.name);
    assert.equal(b.flow.state.ignored, n + 1, tc.name);
    assert.deepEqual(last(b), held, `${tc.name}: the key is unchanged`);
  }
  assert.equal(await b.flow.key('pa', forB.key), true, 'the real one opens');
  assert.deepEqual(last(b), last(a));
  assert.equal(await b.flow.key('pa', forB.key), false, 'a replay is stale');
  assert.equal(c.flow.state.epoch, 1);
});

test('a participant whose public key does not wrap costs only itself its key', async () => {
  const r = relay();
  const a = await r.join('pa');
  const b = await r.join('pb');
  await a.flow.participantJoined({ ref: 'pbad', public_key: 'x25519:not-a-key' });
  assert.equal(a.flow.state.wrapFailures, 1);
  await r.leave('pbad');
  assert.equal(a.flow.state.epoch, 2, 'the rotation went on');
  assert.deepEqual(last(b), last(a));
});

test('leaves that come together cost one rotation', async () => {
  const r = relay();
  r.coalesce = 200; // the pages schedule their rotations on r.later, which flush runs
  const a = await r.join('pa');
  const b = await r.join('pb');
  await r.join('pc');
  await r.join('pd');
  // Two leaves before the leader's scheduled rotation runs.
  for (const ref of ['pc', 'pd']) {
    r.pages.delete(ref);
    for (const p of r.pages.values()) await p.flow.participantLeft(ref);
  }
  assert.equal(r.later.length, 1, 'one rotation scheduled');
  assert.equal(a.flow.state.epoch, 1, 'not yet rotated');
  await r.flush();
  assert.equal(a.flow.state.epoch, 2, 'one new epoch for both leaves');
  assert.deepEqual(last(b), last(a));
  assert.equal(b.flow.state.code, a.flow.state.code);
});

import './webcrypto.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Receiver, Sender, Suite, encodeHeader, parseHeader, deriveKeySalt, ratchetBaseKey,
  MalformedError, AuthError, ReplayError, UnknownKeyError, CounterExhaustedError, ReplayWindow, REPLAY_WINDOW,
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

// The per-frame path keeps CTRs as 32-bit halves: every boundary of that (2^32, 2^53, where
// a double stops being exact, and 2^64) against a reference built with BigInts from the RFC's
// definitions (header of section 4.3, nonce salt XOR CTR, AAD header || metadata).
test('counters across 2^32, 2^53 and up to 2^64 - 1', async () => {
  const suite = Suite.AES_256_GCM_SHA512_128;
  const base = new Uint8Array(32).fill(9);
  const kid = 0x0123456789abcdefn;
  const { key, salt } = await deriveKeySalt(suite, kid, base);
  const gcm = await crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
  const saltInt = BigInt(`0x${hex.encode(salt)}`);
  const metadata = Uint8Array.from([0xaa, 0xbb, 0xcc]);
  const pt = Uint8Array.from([1, 2, 3, 4, 5]);
  const s = await Sender.create(suite, kid, base);
  const r = new Receiver();
  await r.addKey(suite, kid, base);
  const starts = [0n, 7n, 0xfen, 0xfffffffen, (1n << 40n) - 2n, (1n << 53n) - 2n, (1n << 56n) - 1n, (1n << 64n) - 3n];
  for (const start of starts) {
    s.advanceCounter(start);
    for (let ctr = start; ctr < start + 3n && ctr < 1n << 64n; ctr++) {
      assert.equal(s.nextCounter, ctr);
      const got = await s.encrypt(metadata, pt);
      const header = encodeHeader(kid, ctr);
      const nonce = hex.decode((saltInt ^ ctr).toString(16).padStart(24, '0'));
      const aad = new Uint8Array([...header, ...metadata]);
      const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad }, gcm, pt));
      assert.equal(hex.encode(got), hex.encode(header) + hex.encode(sealed), `CTR ${ctr}`);
      assert.deepEqual(await r.decrypt(metadata, got), pt, `open CTR ${ctr}`);
      await assert.rejects(r.decrypt(metadata, got), ReplayError, `replay CTR ${ctr}`);
    }
  }
  await assert.rejects(s.encrypt(metadata, pt), CounterExhaustedError);
  assert.throws(() => s.nextCounter, CounterExhaustedError);
});

// The window against the BigInt sliding window it replaced, on random CTR sequences near
// each boundary of the 32-bit halves.
test('replay window matches a BigInt model', () => {
  class Model {
    constructor() { this.any = false; this.top = 0n; this.seen = 0n; }
    check(c) {
      if (!this.any || c > this.top) return true;
      const d = this.top - c;
      return d < BigInt(REPLAY_WINDOW) && ((this.seen >> d) & 1n) === 0n;
    }
    accept(c) {
      const mask = (1n << BigInt(REPLAY_WINDOW)) - 1n;
      if (!this.any) { this.any = true; this.top = c; this.seen = 1n; } else if (c > this.top) {
        const s = c - this.top;
        this.seen = s >= BigInt(REPLAY_WINDOW) ? 1n : ((this.seen << s) & mask) | 1n;
        this.top = c;
      } else this.seen |= 1n << (this.top - c);
    }
  }
  let x = 12345;
  const next = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x; };
  for (const origin of [0n, (1n << 32n) - 100n, (1n << 53n) - 100n, (1n << 64n) - 400n]) {
    const w = new ReplayWindow();
    const m = new Model();
    let c = origin;
    for (let i = 0; i < 5000; i++) {
      const r = next() % 100;
      // Mostly forward, sometimes back into or past the window, sometimes a long jump.
      let cand = r < 60 ? c + BigInt(next() % 4) : r < 95 ? c - BigInt(next() % 200) : c + BigInt(next() % 300);
      if (cand < origin) cand = origin;
      if (cand >= 1n << 64n) cand = (1n << 64n) - 1n;
      assert.equal(w.check(cand), m.check(cand), `check ${cand} after top ${m.top}`);
      if (m.check(cand)) {
        w.accept(cand);
        m.accept(cand);
        if (cand > c) c = cand;
      }
      assert.equal(w.top, m.top);
    }
  }
});

// Each GCM key reuses its nonce and AAD buffers: frames sealed and opened all at once must
// not see one another's (WebCrypto copies its arguments when called).
test('concurrent seals and opens, every suite', async () => {
  for (const suite of [Suite.AES_128_CTR_HMAC_SHA256_80, Suite.AES_128_GCM_SHA256_128, Suite.AES_256_GCM_SHA512_128]) {
    const base = new Uint8Array(32).fill(3);
    const s = await Sender.create(suite, 1000n, base);
    s.advanceCounter((1n << 32n) - 50n);
    const n = REPLAY_WINDOW; // all inside one window, in whatever order they finish
    const metas = Array.from({ length: n }, (_, i) => Uint8Array.from({ length: i % 12 }, (_, j) => i + j));
    const pts = Array.from({ length: n }, (_, i) => Uint8Array.from({ length: 1 + (i % 50) }, (_, j) => i ^ j));
    const wires = await Promise.all(pts.map((p, i) => s.encrypt(metas[i], p)));
    const ctrs = wires.map((w) => parseHeader(w).ctr);
    assert.equal(new Set(ctrs).size, n, 'distinct counters');
    const r = new Receiver();
    await r.addKey(suite, 1000n, base);
    const order = [...wires.keys()].reverse();
    const got = await Promise.all(order.map((i) => r.decrypt(metas[i], wires[i])));
    order.forEach((i, j) => assert.deepEqual(got[j], pts[i], `suite ${suite} frame ${i}`));
    const again = await Promise.allSettled(wires.map((w, i) => r.decrypt(metas[i], w)));
    assert.ok(again.every((x) => x.status === 'rejected' && x.reason instanceof ReplayError));
  }
});

// The leader flow of an end-to-end encrypted meeting in the page (docs/rtc.md, "End-to-end
// encrypted meetings"; the Go reference is sfu/sfuclient's E2EE): the home's media server names
// the key leader; the leader makes the meeting key with crypto.getRandomValues, wraps it to
// every other participant's public key (keys.js wrapKey, keywrap's binding) and sends each its
// envelope; a participant opens the envelope the leader sends it, and refuses one from anyone
// else, for another meeting or participant, or for an epoch no newer than the one it holds.
// A join gets the current epoch; a leave rotates to a new one (leaves within `coalesce` ms of
// the first are one rotation). A leader taking over starts
// above every epoch it holds or the server has relayed, so no one refuses its keys as stale.
//
// The flow hands each new epoch's raw bytes to onKey (the page imports them into the media
// worker, non-extractable, and zeroes them); it keeps them only while it leads (to wrap the
// current epoch to a joiner), and otherwise only as a non-extractable HKDF CryptoKey, for the
// meeting security code (code.js). Nothing it exposes in `state` is secret.

import { wrapKey } from './keys.js';
import { securityCode } from './code.js';

const KEY_SIZE = 32;

/** KeyFlow is one page's side of the flow. Its methods are called in signalling order. */
export class KeyFlow {
  /**
   * meeting is the meeting id; pkey the page's ParticipantKey; send(m) sends a signalling
   * message; onKey(epoch, raw, { first }) gets each new epoch key (raw is a copy the callee
   * must zero); onChange() is called when `state` changed. random(n) returns n random bytes.
   * A leader rotates `coalesce` ms after a leave (0: at once), so that leaves that come
   * together cost one epoch; schedule(fn, ms) runs fn later, in signalling order.
   */
  constructor({ meeting, pkey, send, onKey, onChange = () => {}, random = (n) => crypto.getRandomValues(new Uint8Array(n)),
    coalesce = 200, schedule = (fn, ms) => setTimeout(fn, ms) }) {
    Object.assign(this, { meeting, pkey, send, onKey, onChange, random, coalesce, schedule });
    this.leaving = false; // someone left since the last rotation
    this.rotation = false; // a rotation is scheduled
    this.self = null;
    this.roster = new Map(); // ref -> public key text, the others
    this.leaderRef = null;
    this.lead = null; // { epoch, raw } while this page leads
    this.held = null; // { epoch, hkdf }
    /** state is what the page shows and tests read: never a key. */
    this.state = { leader: null, isLeader: false, epoch: null, code: null, ignored: 0, refused: [], roster: 0, wrapFailures: 0 };
  }

  /** joined starts (or, after a move to another DC, restarts) the flow from `joined`. */
  async joined(j) {
    this.self = j.participant.ref;
    this.roster.clear();
    if (this.lead) { this.lead.raw.fill(0); this.lead = null; } // the new DC's server names the leader again
    this.leaving = false;
    for (const p of j.participants ?? []) this._add(p);
    if (j.leader) await this.leader(j.leader);
    else await this._changed();
  }

  /** participantJoined: a leader sends the joiner the current epoch's envelope. */
  async participantJoined(p) {
    if (!p?.public_key || p.ref === this.self || this.roster.has(p.ref)) return;
    this._add(p);
    if (this.lead) await this._sendTo(p.ref, this.lead);
    await this._changed();
  }

  /** participantLeft: a leader rotates, so the one who left never holds the new epoch. */
  async participantLeft(ref) {
    const had = this.roster.delete(ref);
    if (had && this.lead) {
      this.leaving = true;
      if (this.coalesce <= 0) await this._rotate();
      else if (!this.rotation) {
        this.rotation = true;
        this.schedule(() => this._rotate(), this.coalesce);
      }
    }
    await this._changed();
  }

  /** _rotate deals a new epoch to everyone left, once for every leave since the last. */
  async _rotate() {
    this.rotation = false;
    if (!this.lead || !this.leaving) return;
    this.leaving = false;
    await this._deal(this.lead.epoch + 1);
    await this._changed();
  }

  /** leader follows the server's choice of leader; the page named takes over. */
  async leader(l) {
    this.leaderRef = l?.ref || null;
    if (this.leaderRef !== this.self) {
      if (this.lead) { this.lead.raw.fill(0); this.lead = null; this.leaving = false; }
    } else if (!this.lead) {
      await this._deal(Math.max(this.held?.epoch ?? 0, Number(l.epoch ?? 0)) + 1);
    }
    await this._changed();
  }

  /** key opens an envelope that `from` sent, or counts it as ignored and says why. */
  async key(from, env) {
    const why = this._check(from, env);
    if (why) { this._ignore(why); return false; }
    let raw;
    try {
      raw = await this.pkey.unwrap(env.wrapped, { meeting: this.meeting, epoch: env.epoch, participant: this.self });
    } catch (e) {
      this._ignore(`the envelope of epoch ${env.epoch} does not open: ${e.message}`);
      return false;
    }
    await this._hold(env.epoch, raw, false);
    raw.fill(0);
    await this._changed();
    return true;
  }

  /** refused records the server's refusal of an envelope this page sent. */
  refused(error, participant) {
    this.state.refused.push({ error: error?.error, message: error?.message, participant: participant?.ref });
    this.onChange();
  }

  _check(from, env) {
    if (this.lead) return 'this page leads: it takes no keys';
    if (!from || from !== this.leaderRef) return `an envelope from ${from}, who is not the leader (${this.leaderRef ?? 'none'})`;
    if (!env || env.meeting !== this.meeting || env.participant !== this.self) return `an envelope for ${env?.participant} of meeting ${env?.meeting}, not for this page`;
    if (!Number.isSafeInteger(env.epoch) || env.epoch < 1) return `an envelope of epoch ${env.epoch}`;
    if (this.held && env.epoch <= this.held.epoch) return `an envelope of old epoch ${env.epoch} (holding ${this.held.epoch})`;
    return null;
  }

  _ignore(why) {
    this.state.ignored++;
    this.state.lastIgnored = why;
    this.onChange();
  }

  _add(p) {
    if (p?.public_key && p.ref !== this.self) this.roster.set(p.ref, p.public_key);
  }

  /** _deal makes a new key at epoch, sends it to everyone and holds it. */
  async _deal(epoch) {
    if (!Number.isSafeInteger(epoch)) throw new Error('the epoch counter is exhausted: start a new meeting');
    const raw = this.random(KEY_SIZE);
    if (!(raw instanceof Uint8Array) || raw.length !== KEY_SIZE) throw new Error('no random key');
    if (this.lead) this.lead.raw.fill(0);
    this.lead = { epoch, raw };
    await this._hold(epoch, raw, true);
    await Promise.all([...this.roster.keys()].map((ref) => this._sendTo(ref, this.lead)));
  }

  /** _sendTo sends ref its envelope; a public key that does not wrap costs ref alone its key. */
  async _sendTo(ref, { epoch, raw }) {
    let wrapped;
    try {
      wrapped = await wrapKey(this.roster.get(ref), raw, { meeting: this.meeting, epoch, participant: ref });
    } catch (e) {
      this.state.wrapFailures++;
      this.state.lastWrapFailure = `no envelope for ${ref}: ${e.message}`;
      return;
    }
    this.send({ type: 'key', participant: { ref }, key: { meeting: this.meeting, epoch, participant: ref, wrapped } });
  }

  async _hold(epoch, raw, dealt) {
    const first = this.held === null;
    const hkdf = await crypto.subtle.importKey('raw', raw, 'HKDF', false, ['deriveBits']);
    this.held = { epoch, hkdf };
    await this.onKey(epoch, raw.slice(), { first, dealt });
  }

  async _changed() {
    const s = this.state;
    s.leader = this.leaderRef;
    s.isLeader = !!this.lead;
    s.epoch = this.held?.epoch ?? null;
    s.roster = this.roster.size + 1;
    s.code = this.held ? await securityCode(this.held.hkdf, this.held.epoch, [this.pkey.publicKey, ...this.roster.values()]) : null;
    this.onChange();
  }
}

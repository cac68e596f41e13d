// The media worker of the browser meeting client: an RTCRtpScriptTransform worker
// (onrtctransform) that applies the Geofence media profile (profile.js) to every encoded
// frame, sealing on the sending side and opening on the receiving side, counting what it drops
// and posting the counts back to the page.
//
// Keys reach it only from the page, as non-extractable HKDF CryptoKeys (profile.js
// importEpochKey): the worker derives sender keys from them and can never read or send them.
// A frame is never passed on in clear: without a key, a sending transform drops it.
//
// Messages from the page:
//   {type: 'epoch', epoch, key}     hold an epoch key (receivers accept it from now on)
//   {type: 'send', epoch}           seal with that epoch from now on (every sender re-keys)
//   {type: 'remove-epoch', epoch}   forget an epoch
//   {type: 'ratchet'}               every sender takes one RFC 9605 section 5.1 ratchet step
//   {type: 'keyframe'}              every sender asks its encoder for a key frame (after a re-key)
//   {type: 'stats'}                 post the counts now
//   {type: 'streams', readable, writable, options}   encoded streams of a browser without
//                                   RTCRtpScriptTransform (createEncodedStreams)
// Messages to the page: {type: 'stats', transforms: [...]}, {type: 'error', message}.
// Transform options: {side: 'send' | 'receive', codec: 'vp8' | 'opus' | 'none', id}.

import { Codec, ProfileReceiver, ProfileSender, ShortFrameError, DEFAULT_SUITE } from './profile.js';

const FAILURES = { MalformedError: 'malformed', UnknownKeyError: 'unknownKey', AuthError: 'auth', ReplayError: 'replay', TooManySendersError: 'tooManySenders' };

function codecOf(options, frame) {
  if (options.codec) return options.codec;
  const mime = frame.getMetadata?.().mimeType?.toLowerCase();
  if (mime === 'video/vp8') return Codec.VP8;
  if (mime === 'audio/opus') return Codec.OPUS;
  return Codec.NONE;
}

/**
 * Returns the worker's state machine, apart from any global scope so that tests drive it:
 * onMessage(data) handles a page message, transform(transformer) runs one transform, stats()
 * returns the counts. post sends a message to the page.
 */
export function createMediaCrypto({ post, suite = DEFAULT_SUITE } = {}) {
  const receiver = new ProfileReceiver({ suite });
  const epochKeys = new Map(); // epoch (BigInt) -> {epoch, key}
  let sendEpoch = null;
  const transforms = [];

  function report(error) {
    post({ type: 'error', message: String(error?.message ?? error) });
  }

  async function onMessage(m) {
    try {
      switch (m?.type) {
        case 'epoch': {
          const ek = { epoch: BigInt(m.epoch), key: m.key };
          epochKeys.set(ek.epoch, ek);
          await receiver.addEpoch(ek);
          break;
        }
        case 'send': {
          const ek = epochKeys.get(BigInt(m.epoch));
          if (!ek) throw new Error(`media worker: send in epoch ${m.epoch}: no key for it was posted`);
          sendEpoch = ek;
          for (const t of transforms) if (t.sender) await t.sender.rekey(ek);
          break;
        }
        case 'remove-epoch':
          epochKeys.delete(BigInt(m.epoch));
          await receiver.removeEpoch(m.epoch);
          break;
        case 'ratchet':
          for (const t of transforms) if (t.sender) await t.sender.ratchet();
          break;
        case 'keyframe':
          for (const t of transforms) {
            if (t.side === 'send' && typeof t.transformer?.generateKeyFrame === 'function') {
              t.transformer.generateKeyFrame().catch(() => { /* audio, or not yet sending */ });
            }
          }
          break;
        case 'stats':
          post({ type: 'stats', transforms: stats() });
          break;
        case 'streams':
          transform(m);
          break;
        default:
          throw new Error(`media worker: unknown message type ${JSON.stringify(m?.type)}`);
      }
    } catch (e) {
      report(e);
    }
  }

  function stats() {
    return transforms.map((t) => ({
      id: t.id, side: t.side, codec: t.codec, frames: t.frames, bytes: t.bytes,
      kid: t.sender ? t.sender.kid.toString(16) : undefined,
      dropped: { ...t.dropped }, failures: { ...t.failures }, lastFailure: t.lastFailure,
    }));
  }

  // Per frame, sealFrame and openFrame return the profile's promise with one .then: no
  // async layers of their own.
  function sealFrame(t, frame, controller) {
    if (!t.sender) {
      if (!sendEpoch) { t.dropped.noKey++; return Promise.resolve(); }
      return ProfileSender.create(sendEpoch, { suite }).then((sender) => {
        t.sender ??= sender;
        return sealFrame(t, frame, controller);
      });
    }
    const codec = codecOf(t.options, frame);
    t.codec = codec;
    return t.sender.seal(codec, new Uint8Array(frame.data)).then((wire) => {
      frame.data = wire.buffer;
      t.frames++;
      t.bytes += wire.byteLength;
      controller.enqueue(frame);
    }, (e) => {
      if (e instanceof ShortFrameError) { t.dropped.shortFrame++; return; }
      throw e;
    });
  }

  function openFrame(t, frame, controller) {
    const data = frame.data;
    if (data.byteLength === 0) {
      // Chromium's receive pipeline hands out empty audio frames of its own, which no
      // sender sealed. They hold nothing to decrypt or to forge: dropped, not failures.
      t.dropped.empty++;
      return Promise.resolve();
    }
    const codec = codecOf(t.options, frame);
    t.codec = codec;
    return receiver.open(codec, new Uint8Array(data)).then((pt) => {
      frame.data = pt.buffer;
      t.frames++;
      t.bytes += pt.byteLength;
      controller.enqueue(frame);
    }, (e) => {
      const kind = FAILURES[e?.name] ?? 'other';
      t.failures[kind]++;
      t.lastFailure = { kind, bytes: data.byteLength, message: String(e?.message ?? e) };
    });
  }

  function transform(transformer) {
    const options = transformer.options ?? {};
    const t = {
      id: options.id ?? String(transforms.length), side: options.side === 'send' ? 'send' : 'receive',
      options, codec: options.codec, sender: null, transformer, frames: 0, bytes: 0,
      dropped: { noKey: 0, shortFrame: 0, empty: 0 },
      failures: { malformed: 0, unknownKey: 0, auth: 0, replay: 0, tooManySenders: 0, other: 0 },
    };
    transforms.push(t);
    const step = t.side === 'send' ? sealFrame : openFrame;
    const done = transformer.readable
      .pipeThrough(new TransformStream({
        transform: (frame, controller) => step(t, frame, controller).catch((e) => { t.dropped.error = (t.dropped.error ?? 0) + 1; report(e); }),
      }))
      .pipeTo(transformer.writable)
      .catch(report);
    return done;
  }

  return { onMessage, transform, stats };
}

/** Installs the worker on its global scope; statsInterval (ms) is how often counts are posted. */
export function install(scope, { statsInterval = 1000 } = {}) {
  const core = createMediaCrypto({ post: (m) => scope.postMessage(m) });
  scope.onmessage = (e) => core.onMessage(e.data);
  scope.onrtctransform = (e) => core.transform(e.transformer);
  if (statsInterval > 0) setInterval(() => scope.postMessage({ type: 'stats', transforms: core.stats() }), statsInterval);
  return core;
}

if (typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope) install(globalThis);

// The page side of the meeting client's media encryption: it starts the media worker
// (worker.js), hands it the meeting's epoch keys as non-extractable CryptoKeys, and attaches
// the worker to every RTCRtpSender and RTCRtpReceiver of the call.

import { importEpochKey, Codec } from './profile.js';

export { Codec } from './profile.js';

/**
 * MediaEncryption drives one media worker. worker is a Worker running dist/worker.js; onStats
 * receives the worker's counts, onError its errors.
 */
export class MediaEncryption {
  constructor(worker, { onStats = () => {}, onError = () => {} } = {}) {
    this.worker = worker;
    this.nextId = 0;
    worker.onmessage = (e) => {
      if (e.data?.type === 'stats') onStats(e.data.transforms);
      else if (e.data?.type === 'error') onError(new Error(e.data.message));
    };
  }

  /**
   * Gives the worker the key of an epoch (a managed meeting key from the key server, or the
   * E2EE leader's key), 32 raw bytes. The bytes are imported as a non-extractable key and
   * zeroed; only the CryptoKey is posted.
   */
  async addEpoch(epoch, rawKey) {
    const key = await importEpochKey(rawKey);
    rawKey.fill(0);
    this.worker.postMessage({ type: 'epoch', epoch: BigInt(epoch), key });
  }

  /** Seals outgoing media with epoch from now on: call it once every receiver has the key. */
  useEpoch(epoch) { this.worker.postMessage({ type: 'send', epoch: BigInt(epoch) }); }

  /** Forgets an epoch once its frames are no longer expected. */
  removeEpoch(epoch) { this.worker.postMessage({ type: 'remove-epoch', epoch: BigInt(epoch) }); }

  /** Asks every sender's encoder for a key frame (RTCRtpScriptTransformer.generateKeyFrame). */
  keyFrame() { this.worker.postMessage({ type: 'keyframe' }); }

  /** Every sender takes one ratchet step (RFC 9605 section 5.1). */
  ratchet() { this.worker.postMessage({ type: 'ratchet' }); }

  /** Asks for the counts now. */
  requestStats() { this.worker.postMessage({ type: 'stats' }); }

  /** Encrypts what an RTCRtpSender sends; codec is 'vp8', 'opus' or 'none'. */
  attachSender(sender, codec) { this._attach(sender, 'send', codec); }

  /** Decrypts what an RTCRtpReceiver receives. */
  attachReceiver(receiver, codec) { this._attach(receiver, 'receive', codec); }

  _attach(endpoint, side, codec) {
    if (!Object.values(Codec).includes(codec)) throw new TypeError(`unknown codec ${JSON.stringify(codec)}: want vp8, opus or none`);
    const options = { side, codec, id: `${side}-${this.nextId++}` };
    if (typeof RTCRtpScriptTransform !== 'undefined') {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, options);
      return;
    }
    // Browsers without RTCRtpScriptTransform: the encoded streams go to the worker.
    const { readable, writable } = endpoint.createEncodedStreams();
    this.worker.postMessage({ type: 'streams', readable, writable, options }, [readable, writable]);
  }
}

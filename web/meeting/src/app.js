// The meeting page (index.html): joins a meeting through the directory, verifies the ticket
// against the directory's published keys, fetches a managed meeting's key from the ticket's
// key servers (HPKE-wrapped to a key the page made) or, in an end-to-end encrypted meeting,
// runs the leader flow over the signalling (e2ee.js) and shows the meeting security code,
// connects to a media DC of the ticket over
// the signalling protocol of docs/rtc.md (a publisher PeerConnection offered by the page, a
// subscriber PeerConnection offered by the server, trickle ICE), and sends and receives VP8
// and Opus through the media worker, sealed with SFrame under the media profile. It shows a
// tile per participant, the DC each is on and whether it came through a bridge, and every
// refusal with its rule. docs/meeting.md is its manual.
//
// window.geofence exposes the state and report() (getStats and the worker's counts) for
// tests and the curious.

import { MediaEncryption } from './page.js';
import { ParticipantKey } from './keys.js';
import { KeyFlow } from './e2ee.js';
import { verifyTicket, JWKS_PATH } from './ticket.js';

const q = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const loopbackHost = ['127.0.0.1', 'localhost', '[::1]'].includes(location.hostname);

const state = {
  phase: 'idle', error: null, notices: [], ticket: null, claims: null, joined: null,
  datacenter: null, epoch: null, participants: new Map(), tracks: new Map(), withheld: [], tried: new Set(),
  workers: [], workerErrors: [], timeline: {}, e2ee: null,
};
window.geofence = { state, report };

// --- display --------------------------------------------------------------------------------

function show(phase, text) {
  state.phase = phase;
  $('status').textContent = text;
  $('status').dataset.phase = phase;
}

/** refuse shows a refusal: the server's code, message and the rules it names. */
function refuse(where, err) {
  const e = err?.body ?? { error: 'error', message: String(err?.message ?? err) };
  state.error = { where, ...e };
  const rules = e.rules?.length ? ` (rule ${e.rules.join(', ')})` : '';
  $('error').textContent = `${where}: ${e.error}: ${e.message}${rules}`;
  $('error').hidden = false;
  show('refused', 'Not in the meeting');
}

function notice(text) {
  state.notices.push(text);
  const li = document.createElement('li');
  li.textContent = text;
  $('notices').append(li);
}

function tile(ref) {
  let t = document.getElementById(`tile-${ref}`);
  if (t) return t;
  t = document.createElement('figure');
  t.id = `tile-${ref}`;
  t.className = 'tile';
  const v = document.createElement('video');
  v.autoplay = true;
  v.playsInline = true;
  v.muted = ref === 'self';
  const cap = document.createElement('figcaption');
  t.append(v, cap);
  $('tiles').append(t);
  return t;
}

function caption(ref) {
  const p = state.participants.get(ref);
  if (!p) return;
  const t = tile(ref);
  const where = `${p.datacenter ?? '?'}${p.bridged ? ', through a bridge' : ''}`;
  t.querySelector('figcaption').textContent = `${p.id}${ref === 'self' ? ' (you)' : ''} · ${where}`;
  t.dataset.datacenter = p.datacenter ?? '';
  t.dataset.bridged = String(!!p.bridged);
}

function removeTile(ref) { document.getElementById(`tile-${ref}`)?.remove(); }

// --- HTTP -----------------------------------------------------------------------------------

class Refusal extends Error {
  constructor(status, body) {
    super(`${status} ${body?.error ?? ''}: ${body?.message ?? ''}`);
    this.status = status;
    this.body = body ?? { error: `http_${status}`, message: 'no error body' };
  }
}

async function postJSON(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  let out = null;
  try { out = await r.json(); } catch { /* no body */ }
  if (!r.ok) throw new Refusal(r.status, out);
  return out;
}

// In development a page plays a client address: the directory trusts X-Forwarded-For from
// loopback only, so elsewhere the header is ignored.
function clientHeaders() { return q.get('ip') ? { 'X-Forwarded-For': q.get('ip') } : {}; }

// --- keys -----------------------------------------------------------------------------------

let media = null;
let pkey = null;
let rotateTimer = null;

/** fetchKey asks the ticket's key servers in order for the current (or given) epoch. */
async function fetchKey() {
  let last = null;
  for (const dc of state.claims.kms ?? []) {
    try {
      const res = await postJSON(`${dc.endpoint}/v1/meetings/${encodeURIComponent(state.claims.meeting)}/key`,
        { token: state.ticket, public_key: pkey.publicKey });
      return { ...res, dc };
    } catch (e) {
      last = e;
      notice(`key server ${dc.id} refused: ${e.body?.error ?? e.message}${e.body?.rules?.length ? ' (rule ' + e.body.rules.join(', ') + ')' : ''}`);
    }
  }
  throw last ?? new Error('the ticket lists no key server');
}

/**
 * applyKey unwraps a key answer and, when it is a newer epoch, switches every sender to it:
 * the receivers hold it first, the senders switch after a moment for the others to catch up,
 * then the page asks for a key frame (`rekeyed`), so that the switch shows no gap.
 */
async function applyKey(res, { switchAfter = 0 } = {}) {
  if (state.epoch !== null && res.epoch <= state.epoch) return false;
  const raw = await pkey.unwrap(res.wrapped, { meeting: state.claims.meeting, epoch: res.epoch, participant: state.claims.sub });
  state.kms = res.kms;
  await applyEpoch(res.epoch, raw, { switchAfter, from: `key server ${res.kms}` });
  scheduleRotation(res.rotate_at);
  return true;
}

/**
 * applyEpoch hands the worker a new epoch's key (imported non-extractable, raw zeroed) and
 * switches the senders to it: at once for the first key, else after switchAfter ms, for the
 * others to hold it first. The previous epoch stays for receiving for 10 s more.
 */
async function applyEpoch(epoch, raw, { switchAfter = 0, from }) {
  await media.addEpoch(epoch, raw);
  const previous = state.epoch;
  state.epoch = epoch;
  const use = () => {
    media.useEpoch(epoch);
    media.keyFrame();
    send({ type: 'rekeyed' });
    if (previous !== null) setTimeout(() => media.removeEpoch(previous), 10000);
    $('epoch').textContent = `epoch ${epoch} from ${from}`;
  };
  if (switchAfter > 0 && previous !== null) setTimeout(use, switchAfter); else use();
}

// --- end-to-end encryption ------------------------------------------------------------------

let flow = null; // the e2ee leader flow (e2ee.js), in an e2ee meeting
let pendingOffer = null; // a subscriber offer held until the page has a key
let publishPending = false;

/** startFlow prepares the leader flow of an e2ee meeting: the key comes after the join. */
function startFlow() {
  flow = new KeyFlow({
    meeting: state.claims.meeting, pkey, send,
    onKey: (epoch, raw, { first, dealt }) => applyEpoch(epoch, raw, {
      switchAfter: first ? 0 : 1000,
      from: dealt ? 'this page, the meeting\'s key leader' : 'the meeting\'s key leader',
    }),
    onChange: showCode,
    // A rotation after leaves runs in signalling order, between messages.
    schedule: (fn, ms) => setTimeout(() => serial(fn), ms),
  });
  state.e2ee = flow.state;
}

function showCode() {
  const s = flow.state;
  $('code').textContent = s.code ? `security code ${s.code}${s.isLeader ? ' · you lead the keys' : ''}` : 'waiting for the meeting key from its leader';
  $('code').dataset.code = s.code ?? '';
}

/** keyReady goes on with what waited for the first key: the subscriber offer, publishing. */
async function keyReady() {
  if (!flow || state.epoch === null) return;
  if (pendingOffer) {
    const m = pendingOffer;
    pendingOffer = null;
    await subscriberOffer(m.sdp);
  }
  if (publishPending) {
    publishPending = false;
    await publish(localStream);
  }
}

const KEY_REFUSALS = new Set(['not_leader', 'unknown_participant', 'envelope_mismatch', 'not_e2ee', 'limit_reached']);

function scheduleRotation(at) {
  clearTimeout(rotateTimer);
  if (!at) return;
  const ms = Math.max(0, Date.parse(at) - Date.now()) + 200;
  rotateTimer = setTimeout(() => rekey().catch((e) => notice(`re-key: ${e.message}`)), ms);
}

async function rekey() {
  const res = await fetchKey();
  if (!(await applyKey(res, { switchAfter: 1000 }))) scheduleRotation(res.rotate_at);
}

// --- signalling -----------------------------------------------------------------------------

let ws = null;
let pub = null;
let sub = null;
const pendingCandidates = { publisher: [], subscriber: [] };

function send(m) { if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); }

// The server's messages are handled one at a time, in order, and so is the e2ee flow's own
// work between them (a rotation after leaves).
let queue = Promise.resolve();
function serial(fn) {
  queue = queue.then(fn).catch((err) => notice(`signalling: ${err.message}`));
  return queue;
}

/** On loopback (development and tests) the page uses 127.0.0.1 alone, both ways. */
function allowed(c) {
  if (!loopbackHost) return true;
  if (!c?.candidate) return true;
  const m = /^candidate:\S+ \d+ \S+ \d+ (\S+) /.exec(c.candidate);
  return (c.address ?? m?.[1]) === '127.0.0.1';
}

function newPC(target) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.onicecandidate = (e) => {
    if (e.candidate && !allowed(e.candidate)) return;
    send({ type: 'candidate', target, candidate: e.candidate ? e.candidate.toJSON() : null });
  };
  pc.onconnectionstatechange = () => { if (pc.connectionState === 'failed') notice(`${target} connection failed`); };
  return pc;
}

async function addRemoteCandidate(target, c) {
  if (c && !allowed(c)) return;
  const pc = target === 'publisher' ? pub : sub;
  if (!pc || !pc.remoteDescription) { pendingCandidates[target].push(c); return; }
  await pc.addIceCandidate(c ?? undefined);
}

async function flushCandidates(target) {
  const pc = target === 'publisher' ? pub : sub;
  for (const c of pendingCandidates[target].splice(0)) await pc.addIceCandidate(c ?? undefined);
}

async function publish(stream) {
  pub = newPC('publisher');
  const [video] = stream.getVideoTracks();
  const [audio] = stream.getAudioTracks();
  if (video) {
    const t = pub.addTransceiver(video, { direction: 'sendonly', streams: [stream] });
    const vp8 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/VP8');
    t.setCodecPreferences(vp8);
    media.attachSender(t.sender, 'vp8');
  }
  if (audio) {
    const t = pub.addTransceiver(audio, { direction: 'sendonly', streams: [stream] });
    const opus = RTCRtpSender.getCapabilities('audio').codecs.filter((c) => c.mimeType === 'audio/opus');
    t.setCodecPreferences(opus);
    media.attachSender(t.sender, 'opus');
  }
  await pub.setLocalDescription();
  send({ type: 'offer', target: 'publisher', sdp: pub.localDescription.sdp });
}

function subscriber() {
  if (sub) return sub;
  sub = newPC('subscriber');
  sub.ontrack = (e) => {
    const info = state.tracks.get(e.track.id);
    const codec = e.track.kind === 'video' ? 'vp8' : 'opus';
    media.attachReceiver(e.receiver, codec);
    const ref = info?.participant ?? e.streams[0]?.id ?? 'unknown';
    const v = tile(ref).querySelector('video');
    const s = v.srcObject ?? new MediaStream();
    s.addTrack(e.track);
    v.srcObject = s;
    e.track.onended = () => s.removeTrack(e.track);
  };
  return sub;
}

function participant(p) {
  state.participants.set(p.ref, p);
  caption(p.ref);
}

function onWithheld(w) {
  state.withheld.push(w);
  const who = state.participants.get(w.track?.participant)?.id ?? w.track?.participant;
  notice(`${who}'s ${w.track?.kind ?? 'track'} is withheld from ${w.datacenter}: ${w.code} (rule ${w.rule})${w.message ? ': ' + w.message : ''}`);
  const t = document.getElementById(`tile-${w.track?.participant}`);
  if (t) t.classList.add('withheld');
}

async function onSignal(m) {
  switch (m.type) {
    case 'joined': {
      const j = m.joined;
      state.joined = j;
      state.datacenter = j.datacenter;
      state.participants.set('self', { ...j.participant, bridged: j.bridged });
      state.selfRef = j.participant.ref;
      caption('self');
      for (const p of j.participants ?? []) participant(p);
      for (const t of j.tracks ?? []) state.tracks.set(t.id, t);
      for (const w of j.withheld ?? []) onWithheld(w);
      $('where').textContent = `on ${j.datacenter}${j.bridged ? `, bridged to the meeting's home ${j.home}` : ' (the meeting\'s home)'}`;
      show('joined', `In meeting ${j.meeting}`);
      state.timeline.joined = performance.now();
      watchFirstFrame();
      if (flow) {
        // A page without the key would send nothing and count every frame it receives as
        // a failure: it publishes and subscribes once the leader's key is in.
        publishPending = true;
        await flow.joined(j);
        await keyReady();
      } else {
        await publish(localStream);
      }
      break;
    }
    case 'answer':
      if (m.target === 'publisher') {
        await pub.setRemoteDescription({ type: 'answer', sdp: m.sdp });
        await flushCandidates('publisher');
      }
      break;
    case 'offer':
      if (m.target === 'subscriber') {
        if (flow && state.epoch === null) { pendingOffer = m; break; }
        await subscriberOffer(m.sdp);
      }
      break;
    case 'candidate':
      await addRemoteCandidate(m.target, m.candidate);
      break;
    case 'participant_joined':
      participant(m.participant);
      if (flow) await flow.participantJoined(m.participant);
      break;
    case 'participant_left':
      state.participants.delete(m.participant.ref);
      removeTile(m.participant.ref);
      if (flow) await flow.participantLeft(m.participant.ref);
      // Someone left: the key servers rotate the meeting; ask when the next epoch starts.
      if (state.claims?.mode === 'managed' && state.epoch !== null) rekey().catch((e) => notice(`key after a leave: ${e.message}`));
      break;
    case 'track_published':
      state.tracks.set(m.track.id, m.track);
      break;
    case 'track_unpublished':
      state.tracks.delete(m.track.id);
      break;
    case 'withheld':
      onWithheld(m.withheld);
      break;
    case 'leader':
      if (flow) {
        await flow.leader(m.leader);
        await keyReady();
      }
      break;
    case 'key':
      if (flow) {
        await flow.key(m.participant?.ref, m.key);
        await keyReady();
      }
      break;
    case 'goaway':
      moveOn();
      break;
    case 'error':
      if (m.participant && KEY_REFUSALS.has(m.error?.error)) {
        // The server refused one envelope this page sent; the connection stays.
        flow?.refused(m.error, m.participant);
        notice(`the media server refused a key envelope for ${m.participant.ref}: ${m.error.error}: ${m.error.message}`);
        break;
      }
      refuse(`media server ${state.dcID}`, { body: m.error });
      break;
    default:
      break;
  }
}

async function subscriberOffer(sdp) {
  const pc = subscriber();
  await pc.setRemoteDescription({ type: 'offer', sdp });
  await flushCandidates('subscriber');
  await pc.setLocalDescription();
  send({ type: 'answer', target: 'subscriber', sdp: pc.localDescription.sdp });
}

/**
 * watchFirstFrame records when the first remote video frame was decrypted and decoded, in ms
 * since the page's navigation began (performance.now()): the time from opening the page to
 * seeing someone.
 */
function watchFirstFrame() {
  if (state.timeline.firstFrame) return;
  const t = setInterval(async () => {
    if (!sub) return;
    const s = await sub.getStats();
    let decoded = 0;
    s.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') decoded += r.framesDecoded ?? 0; });
    if (decoded > 0) {
      state.timeline.firstFrame = performance.now();
      clearInterval(t);
    }
  }, 50);
}

// --- the join -------------------------------------------------------------------------------

let localStream = null;

async function join() {
  const directory = q.get('directory') || location.origin;
  const meeting = q.get('meeting');
  if (!meeting) throw Object.assign(new Error('no meeting'), { body: { error: 'bad_request', message: 'the address names no meeting: add ?meeting=<id>' } });
  show('media', 'Starting camera and microphone');
  localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  tile('self').querySelector('video').srcObject = localStream;

  media = new MediaEncryption(new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }), {
    onStats: (s) => { state.workers = s; },
    onError: (e) => state.workerErrors.push(e.message),
  });
  pkey = await ParticipantKey.generate(q.get('suite') || 'x25519');

  show('joining', 'Joining through the directory');
  const body = { public_key: pkey.publicKey };
  if (q.get('account')) body.account = q.get('account');
  if (q.get('participant')) body.participant = q.get('participant');
  const headers = clientHeaders();
  if (q.get('token')) headers.Authorization = `Bearer ${q.get('token')}`;
  let res;
  try {
    res = await postJSON(`${directory}/v1/meetings/${encodeURIComponent(meeting)}/join`, body, headers);
  } catch (e) { refuse('directory', e); return; }

  const jwks = await (await fetch(`${directory}${JWKS_PATH}`)).json();
  let claims;
  try {
    claims = await verifyTicket(res.token, jwks);
  } catch (e) { refuse('ticket', e); return; }
  if (claims.home !== res.home || claims.meeting !== res.meeting || claims.public_key !== pkey.publicKey) {
    refuse('ticket', new Error('the join answer does not match its signed ticket'));
    return;
  }
  state.ticket = res.token;
  state.claims = claims;
  $('meeting').textContent = `Meeting ${claims.meeting} · region ${claims.region} · ${claims.mode}`;

  if (q.get('key') === 'none') {
    // A demonstration: in the meeting without its key, the page sees what the media servers
    // see, nothing it can decode (and it sends nothing: a sender without a key drops frames).
    notice('joined without the meeting key (key=none): nothing can be decoded');
  } else if (claims.mode === 'managed') {
    show('keys', 'Fetching the meeting key');
    try {
      await applyKey(await fetchKey());
    } catch (e) { refuse('key servers', e); return; }
  } else {
    // End-to-end encrypted: no server holds the key; it comes from the meeting's key leader
    // over the signalling, or this page leads and makes it.
    startFlow();
    showCode();
  }

  const dcs = [...claims.primary, ...(claims.secondary ?? [])];
  // ?dc= picks the DC: an id of the ticket, "home" (the meeting's home) or "away" (a DC that is
  // not the home, secondaries first: its media reaches the home through a bridge); by default
  // the first of the ticket's lists.
  const want = q.get('dc');
  const withEndpoint = dcs.filter((d) => d.endpoint);
  const dc = (want === 'home' ? withEndpoint.find((d) => d.id === claims.home)
    : want === 'away' ? [...(claims.secondary ?? []), ...claims.primary].find((d) => d.endpoint && d.id !== claims.home)
      : want ? withEndpoint.find((d) => d.id === want) : withEndpoint[0]) ?? null;
  if (!dc?.endpoint) { refuse('ticket', new Error(`the ticket lists no media datacenter ${q.get('dc') ?? ''}`)); return; }
  connect(dc);
}

/** connect opens the signalling to dc and joins its media server with the ticket. */
function connect(dc) {
  state.dcID = dc.id;
  state.tried.add(dc.id);
  show('connecting', `Connecting to ${dc.id}`);
  const url = new URL('/v1/rtc', dc.endpoint);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => send({ type: 'join', ticket: state.ticket });
  sock.onmessage = (e) => {
    if (sock !== ws) return; // a connection given up for another DC
    let m;
    try { m = JSON.parse(e.data); } catch { return; }
    serial(() => (sock === ws ? onSignal(m) : undefined));
  };
  // A connection that ends while joined, without a goaway, is a DC that failed: the page moves
  // on as from a draining one. After the messages before it (a goaway moves first).
  sock.onclose = () => serial(() => { if (sock === ws && state.phase === 'joined') moveOn('lost'); });
}

/**
 * moveOn answers a goaway (why: 'draining') or a connection lost while joined ('lost'): the
 * page closes its media at that DC and joins again, with the same ticket and key, through the
 * next DC of the ticket it has not tried.
 */
function moveOn(why = 'draining') {
  const from = state.datacenter;
  const what = why === 'lost' ? `the connection to ${from} was lost` : `${from} is draining`;
  const dcs = [...state.claims.primary, ...(state.claims.secondary ?? [])].filter((d) => d.endpoint && !state.tried.has(d.id));
  if (dcs.length === 0) {
    if (why === 'lost') show('left', `${what} and the ticket lists no other datacenter to try: join again`);
    else notice(`${what} and the ticket lists no other datacenter to try: join again`);
    return;
  }
  notice(`${what}: moving to ${dcs[0].id}`);
  const old = ws;
  ws = null;
  old?.close();
  pub?.close();
  sub?.close();
  pub = null;
  sub = null;
  pendingCandidates.publisher.length = 0;
  pendingCandidates.subscriber.length = 0;
  for (const ref of state.participants.keys()) if (ref !== 'self') removeTile(ref);
  state.participants = new Map([['self', state.participants.get('self')]]);
  state.tracks.clear();
  pendingOffer = null;
  connect(dcs[0]);
}

async function leave() {
  clearTimeout(rotateTimer);
  // The key servers first: the meeting rotates to a new epoch, which the others fetch when
  // they see this participant leave.
  for (const dc of state.claims?.kms ?? []) {
    try { await postJSON(`${dc.endpoint}/v1/meetings/${encodeURIComponent(state.claims.meeting)}/leave`, { token: state.ticket }); break; } catch { /* next */ }
  }
  send({ type: 'leave' });
  ws?.close();
  pub?.close();
  sub?.close();
  for (const t of localStream?.getTracks() ?? []) t.stop();
  show('left', 'You left the meeting');
}

/** report summarizes getStats of both PeerConnections and the worker's counts. */
async function report() {
  media?.requestStats();
  const out = { phase: state.phase, error: state.error, self: state.selfRef ?? null, datacenter: state.datacenter, bridged: state.joined?.bridged ?? null, home: state.joined?.home ?? null,
    epoch: state.epoch, e2ee: state.e2ee, notices: state.notices, withheld: state.withheld, participants: [...state.participants.values()],
    workers: state.workers, workerErrors: state.workerErrors, inbound: [], pairs: {}, firstFrameMs: state.timeline.firstFrame ?? null };
  for (const [name, pc] of [['publisher', pub], ['subscriber', sub]]) {
    if (!pc) continue;
    const s = await pc.getStats();
    s.forEach((r) => {
      if (r.type === 'inbound-rtp') {
        out.inbound.push({ kind: r.kind, participant: state.tracks.get(r.trackIdentifier)?.participant ?? null, codec: s.get(r.codecId)?.mimeType,
          framesDecoded: r.framesDecoded ?? 0, keyFramesDecoded: r.keyFramesDecoded ?? 0, frameWidth: r.frameWidth ?? 0,
          packetsReceived: r.packetsReceived ?? 0, totalSamplesReceived: r.totalSamplesReceived ?? 0 });
      }
      if (r.type === 'transport' && r.selectedCandidatePairId) {
        const p = s.get(r.selectedCandidatePairId);
        out.pairs[name] = { local: s.get(p.localCandidateId)?.address, remote: s.get(p.remoteCandidateId)?.address, state: p.state };
      }
    });
  }
  return out;
}

$('leave').onclick = () => leave();
join().catch((e) => refuse('page', e));

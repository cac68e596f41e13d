package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/crypto/mediaprofile"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/wire"
	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Session is a participant's media session at a media server: what the load test needs of
// the signalling client (package sfuclient's Conn).
type Session interface {
	// Joined is the server's answer to the join.
	Joined() wire.Joined
	// Publish sends tracks on the publisher PeerConnection and returns their senders, whose
	// RTCP carries the server's picture loss requests.
	Publish(ctx context.Context, tracks ...webrtc.TrackLocal) ([]*webrtc.RTPSender, error)
	// Events are the server's signals after joined (track_published, withheld, ...); the
	// channel is closed when the session ends.
	Events() <-chan wire.Signal
	// Timings are the session's setup phases so far.
	Timings() Timings
	// Rekeyed tells the server the participant's sending key changed.
	Rekeyed(ctx context.Context) error
	// SelectedPairs are the ICE candidate pairs in use (nil for a PeerConnection not
	// connected).
	SelectedPairs() []*webrtc.ICECandidatePair
	// Close leaves.
	Close() error
}

// Timings are a session's setup phases, each from the start of the dial.
type Timings struct {
	// Signalling is the time to the server's joined.
	Signalling time.Duration
	// ICE and DTLS are the times to the first PeerConnection's ICE and DTLS connected; zero
	// when they did not connect.
	ICE, DTLS time.Duration
}

// Dialer opens a media session at the media server of a datacenter's endpoint (the ticket's
// wire.DC.Endpoint), with the participant's signed ticket; onTrack is called with every track
// arriving on its subscriber PeerConnection. In an e2ee meeting keys is set: the session runs
// the leader flow with it (sfuclient.E2EE) and hands every epoch key to keys.OnKey.
type Dialer func(ctx context.Context, endpoint, ticket string, onTrack func(*webrtc.TrackRemote, wire.Track), keys *sfuclient.E2EE) (Session, error)

// Config is a load test. Directory, Dial and Publishers are required; the zero value of every
// other field is its default.
type Config struct {
	// Directory is the directory's base URL. Required.
	Directory string
	// Dial opens media sessions. Required.
	Dial Dialer
	// Meeting is the meeting to join; "": a new meeting hosted by Account.
	Meeting string
	// Mode is the mode of the new meeting (wire.ModeManaged or wire.ModeE2EE); "": managed.
	// In an e2ee meeting every participant runs the leader flow over the signalling: the
	// first to join leads, wraps its key to the others and sends them the envelopes.
	Mode string
	// Account is the participants' account; "": "acme". Without Token the directory must trust
	// the caller (`geofence dev` on loopback).
	Account string
	// Token, when set, mints each participant's join token (as the account's backend would);
	// host is set for the token that creates the meeting.
	Token func(participant string, host bool) (string, error)
	// Publishers send one video track each (and an audio track with Audio). Required (>= 1).
	Publishers int
	// Subscribers receive every publisher's tracks.
	Subscribers int
	// Video sets the video tracks' bit rate, frame rate and key-frame interval.
	Video VideoConfig
	// Audio adds an Opus track to every publisher, at AudioBitrate.
	Audio        bool
	AudioBitrate int
	// Duration is the measured window; 0: 10 s.
	Duration time.Duration
	// Warmup is the time between the last track arriving and the measured window; 0: 2 s.
	Warmup time.Duration
	// SetupTimeout bounds the joins and the arrival of every track; 0: 30 s.
	SetupTimeout time.Duration
	// From are the addresses participants join from (X-Forwarded-For, which `geofence dev`
	// believes from loopback), given round-robin; none: the connection's own.
	From []string
	// PinDeny is every participant's pinned deny list (client.Config.PinDeny).
	PinDeny []string
	// Concurrency bounds the joins in flight; 0: 8.
	Concurrency int
	// Profile is the media profile; nil: MediaProfile{}.
	Profile Profile
	// HTTPClient makes the directory and key server requests; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Logger logs progress ("measure start", "measure end"); nil: discard.
	Logger *slog.Logger
	// Now is the clock of send and receive times; nil: time.Now.
	Now func() time.Time
}

// maxParticipants bounds a load test: the media profile's receivers keep at most 1024 senders
// an epoch by default (mediaprofile.Config.MaxSenders).
const maxParticipants = 1024

// ErrSetup is matched by Run's error when participants could not all join, or not every
// track arrived within SetupTimeout; the Report is returned too.
var ErrSetup = errors.New("load test setup failed")

func (c *Config) defaults() error {
	if c.Directory == "" || c.Dial == nil {
		return errors.New("load test: a directory and a dialer are required")
	}
	if c.Publishers < 1 || c.Subscribers < 0 {
		return errors.New("load test: at least one publisher, and no negative number of subscribers")
	}
	if c.Publishers+c.Subscribers > maxParticipants {
		return fmt.Errorf("load test: at most %d participants", maxParticipants)
	}
	if c.Account == "" {
		c.Account = "acme"
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = 2 * time.Second
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = 30 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Profile == nil {
		c.Profile = MediaProfile{}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// participant is one synthetic participant.
type participant struct {
	index       int
	id          string
	publisher   bool
	res         *client.Result
	cl          *client.Client
	sess        Session
	keys        *keyring // the meeting key the participant holds
	rotateAt    time.Time
	fetch       func(context.Context) (e2ee.EpochKey, time.Time, error) // the key again; nil in an e2ee meeting
	began       time.Time
	phases      map[string]time.Duration
	first       atomic.Int64 // first frame opened, nanoseconds after began
	tracks      atomic.Int64 // tracks arrived (subscribers)
	retries     int          // joins refused with no_capacity and tried again
	keyRequests atomic.Int64 // PLI and FIR received (publishers)
	kms         string       // the key server that gave the meeting key
	epoch       uint64
	keyDigest   string // a digest of the meeting key, to compare keys between participants
	err         error
}

// Run runs a load test: it joins every participant, waits for every subscriber to receive
// every track, measures for Duration, leaves, and reports. A setup failure returns the
// Report of what was reached and an error matching ErrSetup.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	rep := newReport(&cfg)
	if cfg.Meeting == "" {
		m, err := createMeeting(ctx, &cfg)
		if err != nil {
			return nil, err
		}
		cfg.Meeting = m.ID
		log.Info("created meeting", "meeting", m.ID, "region", m.Region, "mode", m.Mode)
	}
	rep.Meeting = cfg.Meeting

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup // every goroutine of the run
	var closeMu sync.Mutex
	closing := false // the run is ending: no goroutine may be added to wg
	rec := &Recorder{}
	var withheld sync.Map // track id -> wire.Withheld
	tracksPer := 1
	if cfg.Audio {
		tracksPer = 2
	}
	wantTracks := int64(cfg.Publishers * tracksPer)

	n := cfg.Publishers + cfg.Subscribers
	parts := make([]*participant, n)
	for i := range n {
		// Subscribers first, so that each publisher's tracks reach them all as they appear.
		p := &participant{index: i, publisher: i >= cfg.Subscribers, phases: map[string]time.Duration{}}
		var b [4]byte
		rand.Read(b[:])
		role := "sub"
		if p.publisher {
			role = "pub"
		}
		p.id = fmt.Sprintf("load-%s-%d-%s", role, i, hex.EncodeToString(b[:]))
		parts[i] = p
	}
	defer func() {
		// Leave: sessions first (the media server drops the tracks), then the client
		// sessions, then wait for every reader and sender.
		cancel()
		closeMu.Lock()
		closing = true
		closeMu.Unlock()
		for _, p := range parts {
			if p.sess != nil {
				p.sess.Close()
			}
		}
		for _, p := range parts {
			if p.res != nil && p.res.Session != "" {
				dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
				p.cl.Disconnect(dctx, p.res)
				dcancel()
			}
			if p.cl != nil {
				p.cl.CloseIdleConnections()
			}
		}
		wg.Wait()
	}()

	sctx, scancel := context.WithTimeout(rctx, cfg.SetupTimeout)
	defer scancel()
	sem := make(chan struct{}, cfg.Concurrency)
	var jwg sync.WaitGroup
	join := func(p *participant) {
		defer jwg.Done()
		select {
		case sem <- struct{}{}:
		case <-sctx.Done():
			p.err = sctx.Err()
			return
		}
		defer func() { <-sem }()
		// Publishers receive the other publishers' tracks too, as in a meeting.
		onTrack := func(tr *webrtc.TrackRemote, _ wire.Track) {
			p.tracks.Add(1)
			// A track arriving while the run ends is not read: wg.Wait may have begun.
			closeMu.Lock()
			defer closeMu.Unlock()
			if closing {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); receive(rctx, &cfg, p, tr, rec) }()
		}
		p.err = joinOne(sctx, &cfg, p, onTrack)
		if p.err != nil {
			return
		}
		if p.fetch != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.keys.refresh(rctx, p.rotateAt, p.fetch, func(err error) { log.Warn("meeting key", "participant", p.id, "err", err) })
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-rctx.Done():
					return
				case s, ok := <-p.sess.Events():
					if !ok {
						return
					}
					if s.Type == wire.SignalWithheld && s.Withheld != nil {
						withheld.Store(s.Withheld.Track.ID+"@"+s.Withheld.Datacenter, *s.Withheld)
					}
				}
			}
		}()
		for _, w := range p.sess.Joined().Withheld {
			withheld.Store(w.Track.ID+"@"+w.Datacenter, w)
		}
		if p.publisher {
			if err := publish(sctx, rctx, &cfg, p, &wg); err != nil {
				p.err = err
			}
		}
	}
	for _, p := range parts[:cfg.Subscribers] {
		jwg.Add(1)
		go join(p)
	}
	jwg.Wait()
	for _, p := range parts[cfg.Subscribers:] {
		jwg.Add(1)
		go join(p)
	}
	jwg.Wait()

	var setupErrs []string
	for _, p := range parts {
		if p.err != nil {
			setupErrs = append(setupErrs, fmt.Sprintf("%s: %v", p.id, p.err))
		}
	}
	// Every participant receives every other publisher's tracks that are not withheld from
	// it.
	nWithheld := func() int64 {
		var k int64
		withheld.Range(func(any, any) bool { k++; return true })
		return k
	}
	want := func(p *participant) int64 {
		if p.publisher {
			return wantTracks - int64(tracksPer)
		}
		return wantTracks
	}
	if len(setupErrs) == 0 {
		tick := time.NewTicker(20 * time.Millisecond)
	wait:
		for {
			all := true
			for _, p := range parts {
				if p.tracks.Load()+nWithheld() < want(p) {
					all = false
					break
				}
			}
			if all {
				break
			}
			select {
			case <-tick.C:
			case <-sctx.Done():
				for _, p := range parts {
					if got := p.tracks.Load(); got+nWithheld() < want(p) {
						setupErrs = append(setupErrs, fmt.Sprintf("%s: %d of %d tracks arrived within %v", p.id, got, want(p), cfg.SetupTimeout))
					}
				}
				break wait
			}
		}
		tick.Stop()
	}
	if len(setupErrs) == 0 {
		log.Info("every track arrived; warming up", "tracks", rep.TracksExpected, "warmup", cfg.Warmup)
		if !sleep(rctx, cfg.Warmup) {
			return nil, ctx.Err()
		}
		rec.Start()
		start := time.Now()
		log.Info("measure start", "duration", cfg.Duration)
		sleep(rctx, cfg.Duration)
		rep.Measured = time.Since(start)
		log.Info("measure end")
	}
	stats := rec.Stop()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	withheld.Range(func(_, v any) bool { rep.Withheld = append(rep.Withheld, v.(wire.Withheld)); return true })
	sort.Slice(rep.Withheld, func(i, j int) bool { return rep.Withheld[i].Track.ID < rep.Withheld[j].Track.ID })
	rep.fill(parts, stats)
	rep.SetupErrors = setupErrs
	if len(setupErrs) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrSetup, strings.Join(setupErrs, "; "))
	}
	return rep, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// joinOne joins p through the directory, fetches the meeting key, and opens its media
// session.
func joinOne(ctx context.Context, cfg *Config, p *participant, onTrack func(*webrtc.TrackRemote, wire.Track)) error {
	ccfg := client.Config{Directory: cfg.Directory, HTTPClient: cfg.HTTPClient, PinDeny: cfg.PinDeny}
	if len(cfg.From) > 0 {
		ccfg.ClientIP = cfg.From[p.index%len(cfg.From)]
	}
	cl, err := client.New(ccfg)
	if err != nil {
		return err
	}
	p.cl = cl
	priv, err := keywrap.GenerateKey(keywrap.X25519)
	if err != nil {
		return err
	}
	p.began = time.Now()
	var res *client.Result
	for {
		if cfg.Token != nil {
			tok, terr := cfg.Token(p.id, false)
			if terr != nil {
				return fmt.Errorf("mint join token: %w", terr)
			}
			res, err = cl.JoinWithToken(ctx, cfg.Meeting, tok, priv.PublicKey().String())
		} else {
			res, err = cl.Join(ctx, cfg.Meeting, cfg.Account, p.id, priv.PublicKey().String())
		}
		// A directory with no capacity now says when to try again, as a client would.
		var ref *client.Refusal
		if !errors.As(err, &ref) || ref.Code != wire.CodeNoCapacity || ref.RetryAfter <= 0 {
			break
		}
		p.retries++
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < ref.RetryAfter || !sleep(ctx, ref.RetryAfter) {
			break
		}
	}
	if res != nil && res.Session != "" {
		p.res = res
	}
	if err != nil {
		return err
	}
	p.phases[PhaseJoin] = res.Elapsed
	var keys *sfuclient.E2EE
	firstKey := make(chan struct{})
	if res.Claims.Mode == wire.ModeE2EE {
		// The leader flow over the signalling (docs/rtc.md): the key comes from the meeting's
		// leader, or this participant is the leader and makes it.
		p.keys = newKeyring(e2ee.EpochKey{})
		var once sync.Once
		keys = &sfuclient.E2EE{Private: priv, OnKey: func(k e2ee.EpochKey) {
			if err := p.keys.update(k); err != nil {
				cfg.Logger.Warn("meeting key", "participant", p.id, "epoch", k.Epoch(), "err", err)
			}
			once.Do(func() {
				kd := sha256.Sum256(append([]byte("geofence loadtest key digest\x00"), k.Bytes()...))
				p.kms, p.epoch, p.keyDigest = "leader", k.Epoch(), hex.EncodeToString(kd[:8])
				close(firstKey)
			})
		}}
	} else {
		kb := time.Now()
		mk, err := cl.FetchKey(ctx, res, priv)
		if err != nil {
			return err
		}
		p.phases[PhaseKey] = time.Since(kb)
		// A digest, never the key: enough to tell whether two key servers handed out the
		// same key for an epoch (DESIGN.md section 8 says they must).
		kd := sha256.Sum256(append([]byte("geofence loadtest key digest\x00"), mk.Key.Bytes()...))
		p.kms, p.epoch, p.keyDigest = mk.KMS, mk.Key.Epoch(), hex.EncodeToString(kd[:8])
		cfg.Logger.Debug("meeting key", "participant", p.id, "kms", mk.KMS, "epoch", mk.Key.Epoch(), "datacenter", res.Datacenter,
			"key_digest", p.keyDigest)
		p.keys = newKeyring(mk.Key)
		p.rotateAt = mk.RotateAt
		p.fetch = func(ctx context.Context) (e2ee.EpochKey, time.Time, error) {
			mk, err := cl.FetchKey(ctx, res, priv)
			if err != nil {
				return e2ee.EpochKey{}, time.Time{}, err
			}
			return mk.Key, mk.RotateAt, nil
		}
	}
	kb := time.Now()
	sess, err := cfg.Dial(ctx, res.Endpoint, res.Token, onTrack, keys)
	if err != nil {
		return fmt.Errorf("media session at %s: %w", res.Datacenter, err)
	}
	p.sess = sess // its Timings are read at the end, once its PeerConnections are up
	if keys != nil {
		select {
		case <-firstKey:
			p.phases[PhaseKey] = time.Since(kb)
		case <-ctx.Done():
			return fmt.Errorf("no key from the meeting's leader: %w", ctx.Err())
		}
	}
	return nil
}

// publish adds p's tracks and starts their senders, which run until rctx ends.
func publish(sctx, rctx context.Context, cfg *Config, p *participant, wg *sync.WaitGroup) error {
	sealer, err := cfg.Profile.NewSealer(p.keys.current())
	if err != nil {
		return err
	}
	stream := "s-" + p.id
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v-"+p.id, stream)
	if err != nil {
		return err
	}
	tracks := []webrtc.TrackLocal{video}
	var audio *webrtc.TrackLocalStaticSample
	if cfg.Audio {
		audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a-"+p.id, stream)
		if err != nil {
			return err
		}
		tracks = append(tracks, audio)
	}
	senders, err := p.sess.Publish(sctx, tracks...)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	p.keys.mu.Lock()
	p.keys.onRekey = func() {
		// The server asks this publisher for a key frame, so that receivers on the new key
		// can decode at once (docs/rtc.md, rekeyed).
		if err := p.sess.Rekeyed(rctx); err != nil {
			cfg.Logger.Debug("rekeyed", "participant", p.id, "err", err)
		}
	}
	p.keys.mu.Unlock()
	p.keys.addSealer(sealer)
	src := &VideoSource{VideoConfig: cfg.Video}
	for i, snd := range senders {
		wg.Add(1)
		go func() { defer wg.Done(); readRTCP(snd, i == 0, src, p) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); sendVideo(rctx, cfg, src, sealer, video) }()
	if audio != nil {
		wg.Add(1)
		go func() { defer wg.Done(); sendAudio(rctx, cfg, sealer, audio) }()
	}
	return nil
}

// readRTCP reads a sender's RTCP until the sender closes: a picture loss indication or a full
// intra request on the video track makes the next frame a key frame (RFC 4585 section 6.3.1,
// RFC 5104 section 3.5.1).
func readRTCP(s *webrtc.RTPSender, video bool, src *VideoSource, p *participant) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if video {
					p.keyRequests.Add(1)
					src.RequestKeyFrame()
				}
			}
		}
	}
}

func sendVideo(ctx context.Context, cfg *Config, src *VideoSource, s Sealer, t *webrtc.TrackLocalStaticSample) {
	d := src.FrameDuration()
	tick := time.NewTicker(d)
	defer tick.Stop()
	var plain, sealed []byte
	for {
		var err error
		plain, _ = src.Next(plain[:0], cfg.Now())
		if sealed, err = s.Seal(sealed[:0], Video, plain); err != nil {
			cfg.Logger.Error("seal video frame", "err", err)
			return
		}
		// WriteSample copies the payload into its packets.
		if err := t.WriteSample(media.Sample{Data: sealed, Duration: d}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			cfg.Logger.Debug("write video sample", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func sendAudio(ctx context.Context, cfg *Config, s Sealer, t *webrtc.TrackLocalStaticSample) {
	src := &AudioSource{Bitrate: cfg.AudioBitrate}
	tick := time.NewTicker(AudioFrameDuration)
	defer tick.Stop()
	var plain, sealed []byte
	for {
		var err error
		plain = src.Next(plain[:0], cfg.Now())
		if sealed, err = s.Seal(sealed[:0], Audio, plain); err != nil {
			cfg.Logger.Error("seal audio frame", "err", err)
			return
		}
		t.WriteSample(media.Sample{Data: sealed, Duration: AudioFrameDuration})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// receive reads one subscribed track: video RTP reassembled into frames with pion/rtp's
// VP8 depacketizer (see Assembler), audio one Opus frame per packet; each frame opened with
// the media profile, parsed and recorded.
func receive(ctx context.Context, cfg *Config, p *participant, tr *webrtc.TrackRemote, rec *Recorder) {
	kind := Video
	if tr.Kind() == webrtc.RTPCodecTypeAudio {
		kind = Audio
	}
	opener := cfg.Profile.NewOpener()
	if err := p.keys.addOpener(opener); err != nil {
		cfg.Logger.Error("media profile", "err", err)
		return
	}
	trec := rec.Track(kind)
	var asm Assembler
	var opus codecs.OpusPacket
	var frame, out []byte
	for ctx.Err() == nil {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		trec.Packet(pkt.SequenceNumber, pkt.MarshalSize())
		if kind == Video {
			if frame = asm.Push(frame[:0], pkt); frame == nil {
				continue
			}
		} else {
			if frame, err = opus.Unmarshal(pkt.Payload); err != nil || len(frame) == 0 {
				continue
			}
		}
		now := cfg.Now()
		out, err = opener.Open(out[:0], kind, frame)
		if err != nil {
			cfg.Logger.Debug("open frame", "participant", p.id, "err", err)
			if errors.Is(err, mediaprofile.ErrUnknownEpoch) {
				p.keys.wake() // the key rotated: ask the key server
			}
			trec.DecryptFailure()
			continue
		}
		f, err := ParseFrame(kind, out)
		if err != nil {
			trec.DecryptFailure()
			continue
		}
		p.first.CompareAndSwap(0, int64(max(1, time.Since(p.began))))
		trec.Frame(f, len(frame), now)
	}
}

// createMeeting asks the directory for a new meeting hosted by cfg.Account.
func createMeeting(ctx context.Context, cfg *Config) (*wire.Meeting, error) {
	body, _ := json.Marshal(wire.CreateMeeting{HostAccount: cfg.Account, Mode: cfg.Mode})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(cfg.Directory, "/")+"/v1/meetings", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("create meeting: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if len(cfg.From) > 0 {
		req.Header.Set("X-Forwarded-For", cfg.From[0])
	}
	if cfg.Token != nil {
		tok, err := cfg.Token("load-host", true)
		if err != nil {
			return nil, fmt.Errorf("create meeting: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("create meeting: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("create meeting: the directory answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var m wire.Meeting
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		return nil, fmt.Errorf("create meeting: the directory's answer is not a meeting: %q", b)
	}
	return &m, nil
}

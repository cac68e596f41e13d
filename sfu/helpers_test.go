package sfu_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/verify"
	"github.com/geofence/geofence/wire"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
)

const testIssuer = "geofence"

func loadModel(t testing.TB) *policy.Model {
	t.Helper()
	rep, m, err := verify.File("testdata/world.yaml", verify.Options{})
	if err != nil || m == nil {
		t.Fatalf("testdata/world.yaml: %v", err)
	}
	if !rep.OK {
		t.Fatalf("testdata/world.yaml does not verify")
	}
	return m
}

func detRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// world is a test deployment: a policy, a ticket signer with its key set on loopback, and
// the media servers started in it.
type world struct {
	t      testing.TB
	model  *policy.Model
	signer *ticket.Signer
	keys   *ticket.RemoteKeys

	mu      sync.Mutex
	urls    map[string]string
	servers map[string]*sfu.Server
	stops   map[string]func()
	creds   map[string]string
	nets    map[string]sfu.Network
	// clientNet is the network of each new participant: loopback, or a fresh host on the
	// virtual WAN.
	clientNet func() sfu.Network
}

func newWorld(t testing.TB) *world {
	t.Helper()
	s, err := ticket.NewSigner(testIssuer, detRand(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ticket.JWKSPath, s.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rk, err := ticket.NewRemoteKeys(srv.URL+ticket.JWKSPath, nil, testIssuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, model: loadModel(t), signer: s, keys: rk, urls: map[string]string{}, servers: map[string]*sfu.Server{},
		stops: map[string]func(){}, creds: map[string]string{}, nets: map[string]sfu.Network{},
		clientNet: func() sfu.Network { return loopback }}
	for _, dc := range []string{"de-fra", "fr-par", "nl-ams", "us-nyc"} {
		w.creds[dc] = "credential-of-" + dc
	}
	return w
}

// start runs the media server of datacenter dc on a loopback port until the test ends (or
// stop is called).
func (w *world) start(dc string, n sfu.Network, edit ...func(*sfu.Config)) *sfu.Server {
	w.t.Helper()
	cfg := sfu.Config{
		ID: dc, Model: func() *policy.Model { return w.model }, Keys: w.keys, Network: n,
		Credential: w.creds[dc], PeerCredentials: w.creds,
		Peers: func(id string) (string, bool) {
			w.mu.Lock()
			defer w.mu.Unlock()
			u, ok := w.urls[id]
			return u, ok
		},
		PingInterval: time.Second,
	}
	for _, e := range edit {
		e(&cfg)
	}
	s, err := sfu.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(ln)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.Drain(ctx)
			hs.Close()
		})
	}
	w.t.Cleanup(stop)
	w.mu.Lock()
	w.urls[dc], w.servers[dc], w.stops[dc], w.nets[dc] = "http://"+ln.Addr().String(), s, stop, n
	w.mu.Unlock()
	return s
}

func (w *world) url(dc string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.urls[dc]
}

// kill stops dc's media server at once, as a datacenter failing would.
func (w *world) kill(dc string) {
	w.mu.Lock()
	stop := w.stops[dc]
	delete(w.urls, dc)
	w.mu.Unlock()
	stop()
}

// person is a participant of the test world.
type person struct {
	id, country, region string
}

var (
	anna  = person{"anna", "DE", "eu"}
	felix = person{"felix", "FR", "eu"}
	nora  = person{"nora", "NL", "eu"}
	heidi = person{"heidi", "CH", "ch"}
	sam   = person{"sam", "US", "na"}
)

// ticketFor signs a ticket for p in the European meeting m-1 (home de-fra), listing primary
// and secondary.
func (w *world) ticketFor(p person, primary, secondary []string) string {
	w.t.Helper()
	dcs := func(ids []string) []wire.DC {
		var out []wire.DC
		for _, id := range ids {
			d, _ := w.model.DC(id)
			out = append(out, wire.DC{ID: id, Country: w.model.DCs[d].Country.Code(), Endpoint: w.url(id)})
		}
		return out
	}
	c := wire.Claims{
		Meeting: "m-1", Participant: p.id, Account: "acme", Mode: wire.ModeE2EE, Region: "eu", Home: "de-fra",
		HomeCountry: "DE", Primary: dcs(primary), Secondary: dcs(secondary),
		Context: wire.Context{ParticipantCountry: p.country, ParticipantRegion: p.region, ParticipantPlan: "basic",
			MeetingRegion: "eu", HostAccount: "acme", HostPlan: "basic"},
	}
	tok, err := w.signer.Sign(c, 5*time.Minute)
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// member is a connected participant that publishes an audio and a video track of marked
// packets and records what it receives.
type member struct {
	t    testing.TB
	who  person
	dc   string
	conn *sfuclient.Conn

	// onPayload, when set, sees every payload received, by publisher id and kind.
	onPayload func(from, kind string, payload []byte)

	// plis counts the picture loss requests the server sent to this publisher's video.
	plis atomic.Int64
	// video is the remote tracks received, by publisher id, for RTCP back to them.
	video map[string]*webrtc.TrackRemote

	mu  sync.Mutex
	got map[string]int // packets received by publisher id and kind: "felix/video"
}

func (w *world) join(p person, dc string, primary, secondary []string) *member {
	w.t.Helper()
	m, err := w.tryJoin(p, dc, w.ticketFor(p, primary, secondary))
	if err != nil {
		w.t.Fatalf("%s joins at %s: %v", p.id, dc, err)
	}
	return m
}

func (w *world) tryJoin(p person, dc, tok string) (*member, error) {
	m := &member{t: w.t, who: p, dc: dc, got: map[string]int{},
		video: map[string]*webrtc.TrackRemote{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	m.conn, err = sfuclient.Dial(ctx, sfuclient.Config{URL: w.url(dc), Ticket: tok, Network: w.clientNet(), OnTrack: m.onTrack})
	if err != nil {
		return nil, err
	}
	w.t.Cleanup(func() { m.conn.Close() })
	return m, nil
}

// onTrack counts the packets of a track that carry the publisher's mark.
func (m *member) onTrack(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver, info wire.Track) {
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			return
		}
		who, _, ok := strings.Cut(string(pkt.Payload), ":")
		if !ok {
			continue
		}
		key := who + "/" + info.Kind
		if info.Kind == "video" {
			m.mu.Lock()
			m.video[who] = remote
			m.mu.Unlock()
		}
		if m.onPayload != nil {
			m.onPayload(who, info.Kind, pkt.Payload)
		}
		m.mu.Lock()
		m.got[key]++
		m.mu.Unlock()
	}
}

// received is how many packets m got from publisher id's track of kind.
func (m *member) received(id, kind string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got[id+"/"+kind]
}

// publish sends an audio and a video track of packets marked "<id>:<kind>:<n>" until ctx
// ends.
func (m *member) publish(ctx context.Context) {
	m.t.Helper()
	m.publishWith(ctx, func(kind string, n uint16) []byte {
		payload := fmt.Appendf(nil, "%s:%s:%d:", m.who.id, kind, n)
		return append(payload, make([]byte, 200)...)
	})
}

// publishWith publishes an audio and a video track whose packets carry payload(kind, n),
// which must start with "<id>:".
func (m *member) publishWith(ctx context.Context, payload func(kind string, n uint16) []byte) {
	m.t.Helper()
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", m.who.id)
	if err != nil {
		m.t.Fatal(err)
	}
	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", m.who.id)
	if err != nil {
		m.t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	senders, err := m.conn.Publish(pctx, audio, video)
	if err != nil {
		m.t.Fatalf("%s publishes: %v", m.who.id, err)
	}
	for i, s := range senders {
		go func() {
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok && i == 1 {
						m.plis.Add(1)
					}
				}
			}
		}()
	}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := uint16(0); ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-m.conn.Done():
				return
			case <-tick.C:
			}
			for _, tr := range []struct {
				t    *webrtc.TrackLocalStaticRTP
				kind string
			}{{audio, "audio"}, {video, "video"}} {
				_ = tr.t.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: n, Timestamp: uint32(n) * 960, Marker: true},
					Payload: payload(tr.kind, n)})
			}
		}
	}()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var loopback = sfu.Network{Loopback: true}

// wan is a virtual network between datacenters and participants (Pion's vnet), with the
// latency and loss of a WAN.
type wan struct {
	t      testing.TB
	router *vnet.Router
	mu     sync.Mutex
	next   int
}

func newWAN(t testing.TB, delay time.Duration, lossPercent int) *wan {
	t.Helper()
	r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/16", MinDelay: delay, MaxJitter: delay / 10,
		LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	if lossPercent > 0 {
		rng := rand.New(rand.NewPCG(1, 2))
		var mu sync.Mutex
		r.AddChunkFilter(func(c vnet.Chunk) bool {
			if c.Network() != "udp" {
				return true
			}
			mu.Lock()
			defer mu.Unlock()
			return rng.IntN(100) >= lossPercent
		})
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return &wan{t: t, router: r, next: 1}
}

// host adds a host to the WAN and returns its network.
func (w *wan) host() sfu.Network {
	w.t.Helper()
	w.mu.Lock()
	w.next++
	ip := fmt.Sprintf("10.0.%d.%d", w.next/250, w.next%250+1)
	w.mu.Unlock()
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.router.AddNet(n); err != nil {
		w.t.Fatal(err)
	}
	return sfu.Network{VNet: n}
}

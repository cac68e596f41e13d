package loadtest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/wire"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// fakeSFU is a payload-blind forwarder of real Pion PeerConnections on 127.0.0.1, standing in
// for the media server so that the load test's publishers, depacketizers, media profile and
// stats are tested end to end without it: every published track is forwarded, unchanged, to
// every subscriber session.
type fakeSFU struct {
	t   testing.TB
	api *webrtc.API

	// withholdAudio: audio tracks are not forwarded; every session is told they are withheld.
	withholdAudio bool

	mu     sync.Mutex
	subs   []*fakeSession
	tracks []fakeTrack
	pairs  []string // the selected candidate pairs' local and remote addresses
}

func newFakeSFU(t testing.TB) *fakeSFU {
	var se webrtc.SettingEngine
	// Loopback only (DESIGN.md section 8): gather on 127.0.0.1 alone, no mDNS.
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return &fakeSFU{t: t, api: webrtc.NewAPI(webrtc.WithSettingEngine(se))}
}

type fakeTrack struct {
	t     *webrtc.TrackLocalStaticRTP
	owner *fakeSession
}

type fakeSession struct {
	sfu    *fakeSFU
	began  time.Time
	events chan wire.Signal

	mu       sync.Mutex
	timings  Timings
	onTrack  func(*webrtc.TrackRemote, wire.Track)
	pcs      []*webrtc.PeerConnection
	subC     *webrtc.PeerConnection // the subscriber's side
	subS     *webrtc.PeerConnection // the server's side
	isClosed bool
}

func (f *fakeSFU) Dial(ctx context.Context, endpoint, ticket string, onTrack func(*webrtc.TrackRemote, wire.Track), _ *sfuclient.E2EE) (Session, error) {
	if ticket == "" || endpoint == "" {
		return nil, errors.New("no ticket or endpoint")
	}
	s := &fakeSession{sfu: f, began: time.Now(), events: make(chan wire.Signal, 16)}
	s.timings.Signalling = time.Since(s.began)
	s.subscribe(onTrack)
	return s, nil
}

func (f *fakeSFU) newPC(s *fakeSession, client bool) (*webrtc.PeerConnection, error) {
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	if client {
		pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
			if st == webrtc.ICEConnectionStateConnected {
				s.mu.Lock()
				if s.timings.ICE == 0 {
					s.timings.ICE = time.Since(s.began)
				}
				s.mu.Unlock()
			}
		})
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			if st != webrtc.PeerConnectionStateConnected {
				return
			}
			s.mu.Lock()
			if s.timings.DTLS == 0 {
				s.timings.DTLS = time.Since(s.began)
			}
			s.mu.Unlock()
			if p := selectedPair(pc); p != "" {
				f.mu.Lock()
				f.pairs = append(f.pairs, p)
				f.mu.Unlock()
			}
		})
	}
	s.mu.Lock()
	s.pcs = append(s.pcs, pc)
	s.mu.Unlock()
	return pc, nil
}

// selectedPair is "local remote" of pc's selected ICE candidate pair.
func selectedPair(pc *webrtc.PeerConnection) string {
	for _, t := range pc.GetTransceivers() {
		var tr *webrtc.DTLSTransport
		if t.Sender() != nil {
			tr = t.Sender().Transport()
		}
		if tr == nil && t.Receiver() != nil {
			tr = t.Receiver().Transport()
		}
		if tr == nil {
			continue
		}
		p, err := tr.ICETransport().GetSelectedCandidatePair()
		if err == nil && p != nil {
			return p.Local.Address + " " + p.Remote.Address
		}
	}
	return ""
}

// negotiate runs one offer/answer from offerer to answerer, without trickle.
func negotiate(offerer, answerer *webrtc.PeerConnection) error {
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		return err
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		return err
	}
	<-gathered
	return offerer.SetRemoteDescription(*answerer.LocalDescription())
}

func (s *fakeSession) Joined() wire.Joined { return wire.Joined{Datacenter: "fake"} }

func (s *fakeSession) Events() <-chan wire.Signal { return s.events }

func (s *fakeSession) Rekeyed(context.Context) error { return nil }

func (s *fakeSession) Timings() Timings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timings
}

func (s *fakeSession) SelectedPairs() []*webrtc.ICECandidatePair {
	s.mu.Lock()
	pcs := append([]*webrtc.PeerConnection(nil), s.pcs...)
	s.mu.Unlock()
	var out []*webrtc.ICECandidatePair
	for _, pc := range pcs {
		for _, t := range pc.GetTransceivers() {
			if t.Sender() != nil && t.Sender().Transport() != nil {
				p, _ := t.Sender().Transport().ICETransport().GetSelectedCandidatePair()
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func (s *fakeSession) Publish(ctx context.Context, tracks ...webrtc.TrackLocal) ([]*webrtc.RTPSender, error) {
	f := s.sfu
	c, err := f.newPC(s, true)
	if err != nil {
		return nil, err
	}
	srv, err := f.newPC(s, false)
	if err != nil {
		return nil, err
	}
	var senders []*webrtc.RTPSender
	for _, t := range tracks {
		tr, err := c.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		senders = append(senders, tr.Sender())
	}
	srv.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if f.withholdAudio && remote.Kind() == webrtc.RTPCodecTypeAudio {
			w := wire.Withheld{Track: wire.Track{ID: remote.ID(), Stream: remote.StreamID(), Kind: wire.KindAudio},
				Datacenter: "fake", Code: "residency_conflict", Rule: "residency.test", Message: "withheld by the test"}
			f.mu.Lock()
			subs := append([]*fakeSession(nil), f.subs...)
			f.mu.Unlock()
			for _, sub := range subs {
				if sub != s {
					sub.events <- wire.Signal{Type: wire.SignalWithheld, Withheld: &w}
				}
			}
			for {
				if _, _, err := remote.ReadRTP(); err != nil {
					return
				}
			}
		}
		local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, remote.ID(), remote.StreamID())
		if err != nil {
			f.t.Error(err)
			return
		}
		f.mu.Lock()
		f.tracks = append(f.tracks, fakeTrack{local, s})
		subs := append([]*fakeSession(nil), f.subs...)
		f.mu.Unlock()
		for _, sub := range subs {
			if sub == s {
				continue // not back to its publisher
			}
			if err := sub.addTrack(local); err != nil {
				f.t.Logf("add track to subscriber: %v", err)
			}
		}
		for {
			p, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			local.WriteRTP(p) // payload-blind: forwarded as received
		}
	})
	return senders, negotiate(c, srv)
}

func (s *fakeSession) subscribe(fn func(*webrtc.TrackRemote, wire.Track)) {
	f := s.sfu
	s.mu.Lock()
	s.onTrack = fn
	s.mu.Unlock()
	f.mu.Lock()
	f.subs = append(f.subs, s)
	tracks := append([]fakeTrack(nil), f.tracks...)
	f.mu.Unlock()
	for _, t := range tracks {
		if t.owner != s {
			s.addTrack(t.t)
		}
	}
}

func (s *fakeSession) addTrack(t *webrtc.TrackLocalStaticRTP) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed {
		return nil
	}
	if s.subC == nil {
		s.mu.Unlock()
		c, err := s.sfu.newPC(s, true)
		if err != nil {
			s.mu.Lock()
			return err
		}
		srv, err := s.sfu.newPC(s, false)
		s.mu.Lock()
		if err != nil {
			return err
		}
		s.subC, s.subS = c, srv
		c.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			s.mu.Lock()
			fn := s.onTrack
			s.mu.Unlock()
			kind := wire.KindVideo
			if remote.Kind() == webrtc.RTPCodecTypeAudio {
				kind = wire.KindAudio
			}
			fn(remote, wire.Track{ID: remote.ID(), Stream: remote.StreamID(), Kind: kind})
		})
	}
	if _, err := s.subS.AddTrack(t); err != nil {
		return err
	}
	return negotiate(s.subS, s.subC)
}

func (s *fakeSession) Close() error {
	s.mu.Lock()
	s.isClosed = true
	pcs := s.pcs
	s.pcs = nil
	s.mu.Unlock()
	for _, pc := range pcs {
		pc.Close()
	}
	return nil
}

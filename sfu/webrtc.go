package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/geofence/geofence/wire"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"
)

// Network says where the media server's WebRTC transports live.
type Network struct {
	// Loopback gathers ICE candidates on 127.0.0.1 alone and ignores remote candidates and
	// datagrams that are not loopback (DESIGN.md section 8): `geofence dev` and tests. (A UDP
	// socket given in UDP is used as it is.)
	Loopback bool
	// VNet, when set, runs every transport on Pion's virtual network instead of the
	// machine's (tests of WAN latency and loss); remote candidates must then be on it.
	VNet *vnet.Net
	// PublicIPs are the addresses to advertise instead of the host's own (a DC behind
	// 1:1 NAT); empty advertises the host's.
	PublicIPs []string
	// UDP, when set, carries every PeerConnection's ICE traffic on one socket (a UDP mux),
	// as a production media server listens on one port.
	UDP net.PacketConn
}

// The codecs of the media profile (docs/rtc.md): payload-blind forwarding needs no more, and
// no RTX, so that retransmissions are answered from the server's own history (NACK).
var (
	opusCodec = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111,
	}
	vp8Codec = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}},
		PayloadType: 96,
	}
)

// End-to-end header extensions: kept, renumbered to the receiver's ids. The others
// (transport-wide sequence numbers, MID, RID, absolute send time) are hop by hop.
var forwardedExtensions = map[webrtc.RTPCodecType][]string{
	webrtc.RTPCodecTypeAudio: {sdp.AudioLevelURI, "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"},
	webrtc.RTPCodecTypeVideo: {"urn:3gpp:video-orientation", "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
		"http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"},
}

// NewAPI returns the Pion API of a media server or a Go participant on network n: the
// media profile's codecs and header extensions, NACK (generator and responder), RTCP
// reports and transport-wide congestion feedback, and the ICE settings of n. Pion's own
// logs go to log at debug level (nil discards them).
func NewAPI(n Network, log *slog.Logger) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(opusCodec, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}
	if err := me.RegisterCodec(vp8Codec, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register vp8: %w", err)
	}
	for kind, uris := range forwardedExtensions {
		for _, uri := range uris {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, kind); err != nil {
				return nil, fmt.Errorf("register header extension %s: %w", uri, err)
			}
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, fmt.Errorf("configure nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("configure rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		return nil, fmt.Errorf("configure twcc: %w", err)
	}

	se := webrtc.SettingEngine{}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	se.LoggerFactory = pionLogs{log}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	switch {
	case n.VNet != nil:
		se.SetNet(n.VNet)
	case n.Loopback:
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		// Remote addresses too: a datagram from another address is dropped (loopback.go).
		ln, err := newLoopbackNet()
		if err != nil {
			return nil, fmt.Errorf("loopback network: %w", err)
		}
		se.SetNet(ln)
	}
	if len(n.PublicIPs) > 0 {
		se.SetNAT1To1IPs(n.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	if n.UDP != nil {
		udp := n.UDP
		if n.Loopback && n.VNet == nil {
			udp = loopbackPacket{udp} // the shared socket drops other addresses' datagrams too
		}
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, udp))
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// CheckCandidate refuses a remote ICE candidate that network n must not use: in loopback
// mode, any address but 127.0.0.0/8 and ::1 (DESIGN.md section 8). An empty candidate (the
// end of gathering) passes.
func CheckCandidate(n Network, c webrtc.ICECandidateInit) error {
	if c.Candidate == "" || !n.Loopback || n.VNet != nil {
		return nil
	}
	cand, err := ice.UnmarshalCandidate(strings.TrimPrefix(c.Candidate, "candidate:"))
	if err != nil {
		return fmt.Errorf("malformed candidate: %w", err)
	}
	addr, err := netip.ParseAddr(cand.Address())
	if err != nil || !addr.IsLoopback() {
		return fmt.Errorf("candidate address %q is not a loopback address; this media server runs on loopback only", cand.Address())
	}
	return nil
}

// pionLogs routes Pion's logs to a slog logger at debug level: what Pion reports (a packet
// for a track just removed, a candidate that failed) is per connection and expected; the
// server logs what matters itself.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

// debugf formats only when debug logs are wanted: Pion formats some of its own structs with
// %+v while its other goroutines write them (a data race under -race), and formatting what is
// discarded costs for nothing.
func (l pionLogger) debugf(f string, a ...any) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.log.Debug(fmt.Sprintf(f, a...))
}

func (l pionLogger) Trace(string)              {}
func (l pionLogger) Tracef(string, ...any)     {}
func (l pionLogger) Debug(msg string)          { l.log.Debug(msg) }
func (l pionLogger) Debugf(f string, a ...any) { l.debugf(f, a...) }
func (l pionLogger) Info(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Infof(f string, a ...any)  { l.debugf(f, a...) }
func (l pionLogger) Warn(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Warnf(f string, a ...any)  { l.debugf(f, a...) }
func (l pionLogger) Error(msg string)          { l.log.Debug(msg) }
func (l pionLogger) Errorf(f string, a ...any) { l.debugf(f, a...) }

// CandidateSignal is the signalling message that trickles c, a local candidate of the
// PeerConnection target; nil (gathering done) is a message without a candidate.
func CandidateSignal(target string, c *webrtc.ICECandidate) wire.Signal {
	m := wire.Signal{Type: wire.SignalCandidate, Target: target}
	if c != nil {
		init := c.ToJSON()
		m.Candidate = &wire.ICECandidate{Candidate: init.Candidate, SDPMid: init.SDPMid,
			SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment}
	}
	return m
}

// RemoteCandidate is the candidate a signalling message carries, in Pion's terms; its
// Candidate is empty for the end of gathering.
func RemoteCandidate(c *wire.ICECandidate) webrtc.ICECandidateInit {
	if c == nil {
		return webrtc.ICECandidateInit{}
	}
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid,
		SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
}

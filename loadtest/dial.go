package loadtest

import (
	"context"
	"log/slog"

	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/sfu/sfuclient"
	"github.com/geofence/geofence/wire"
	"github.com/pion/webrtc/v4"
)

// SFUDialer opens media sessions with the media server's signalling client (package
// sfuclient) on network: sfu.Network{Loopback: true} in development and tests.
func SFUDialer(network sfu.Network, log *slog.Logger) Dialer {
	return func(ctx context.Context, endpoint, ticket string, onTrack func(*webrtc.TrackRemote, wire.Track), keys *sfuclient.E2EE) (Session, error) {
		c, err := sfuclient.Dial(ctx, sfuclient.Config{URL: endpoint, Ticket: ticket, Network: network, Logger: log, E2EE: keys,
			OnTrack: func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver, info wire.Track) { onTrack(remote, info) }})
		if err != nil {
			return nil, err
		}
		return sfuSession{c}, nil
	}
}

// sfuSession is an sfuclient.Conn as a Session.
type sfuSession struct{ *sfuclient.Conn }

func (s sfuSession) Timings() Timings {
	t := s.Conn.Timings()
	if t.ICE == 0 && t.DTLS == 0 {
		// A participant that only subscribes sets up its subscriber PeerConnection alone.
		t.ICE, t.DTLS = t.SubscriberICE, t.SubscriberDTLS
	}
	return Timings{Signalling: t.Signalling, ICE: t.ICE, DTLS: t.DTLS}
}

var _ Session = sfuSession{}

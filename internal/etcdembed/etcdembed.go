// Package etcdembed starts a real etcd member inside this process
// (go.etcd.io/etcd/server/v3/embed), on loopback: the single-member cluster of `geofence dev
// --store etcd` and of the join benchmark's server, and each member of the test clusters of
// package etcdtest. It is not how production runs etcd (docs/deploy.md).
package etcdembed

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Member is how to run one member.
type Member struct {
	// Name is the member's name; "" means "default".
	Name string
	// Dir holds its data. Required.
	Dir string
	// ClientURL and PeerURL are where it listens (http://127.0.0.1:PORT); "" picks a free
	// loopback port.
	ClientURL, PeerURL string
	// InitialCluster is "name=peerURL,..."; "" means this member alone.
	InitialCluster string
	// FastElections shortens heartbeats and elections (50 ms, 500 ms) for tests that kill
	// leaders.
	FastElections bool
}

// Start starts the member and waits, up to a minute, until it serves.
func Start(m Member) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	if m.Name != "" {
		cfg.Name = m.Name
	}
	cfg.Dir = m.Dir
	var err error
	if m.ClientURL == "" {
		if m.ClientURL, err = freeURL(); err != nil {
			return nil, err
		}
	}
	if m.PeerURL == "" {
		if m.PeerURL, err = freeURL(); err != nil {
			return nil, err
		}
	}
	cu, err := url.Parse(m.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("start etcd: client url: %w", err)
	}
	pu, err := url.Parse(m.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("start etcd: peer url: %w", err)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = m.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = cfg.Name + "=" + m.PeerURL
	}
	cfg.InitialClusterToken = "geofence"
	if _, err := os.Stat(cfg.Dir + "/member"); err == nil {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.Logger, cfg.LogLevel = "zap", "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	if m.FastElections {
		cfg.TickMs, cfg.ElectionMs = 50, 500
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd member %s: %w", cfg.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case <-time.After(time.Minute):
		e.Close()
		return nil, fmt.Errorf("start etcd member %s: not ready after a minute", cfg.Name)
	}
}

// ClientURL is the address a started member serves clients on.
func ClientURL(e *embed.Etcd) string { return "http://" + e.Clients[0].Addr().String() }

func freeURL() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start etcd: %w", err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String(), nil
}

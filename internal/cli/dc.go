package cli

import (
	"context"
	"flag"
	"fmt"
	"github.com/geofence/geofence/directory/etcdstore"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/ticket"
	meetingui "github.com/geofence/geofence/web/meeting"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func runDC(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "dc", "--id ID --config FILE --directory URL [--listen ADDR] [--credential-file F] [--peers FILE --peer-credentials FILE] [--loopback-media | --public-ip IP] [--media-udp ADDR] [--session-ttl D] [--allow-unverified]")
	id := fs.String("id", "", "the datacenter's id in the config, required")
	cfgPath := fs.String("config", "", "the config file, required")
	directory := fs.String("directory", "", "the directory's base URL, required: its key set verifies tickets, and load reports go to it")
	listen := fs.String("listen", "127.0.0.1:0", "the address to serve on")
	credFile := fs.String("credential-file", "", "a file holding this datacenter's credential for load reports")
	issuer := fs.String("issuer", Issuer, "the issuer name of the directory's tickets")
	fault := fs.String("fault", "none", "a failure to simulate from the start: none, blackhole or refuse")
	sessionTTL := fs.Duration("session-ttl", agent.DefaultSessionTTL, "how long a participant's session lives without a heartbeat (at least 1s)")
	etcdURLs := fs.String("etcd", "", "comma-separated etcd client URLs of the deployment's store: serve the config pushed there (geofence config push), verified here first")
	etcdPrefix := fs.String("etcd-prefix", etcdstore.DefaultPrefix, "with --etcd: the key prefix of the deployment's state")
	peersFile := fs.String("peers", "", `JSON file {"dc-id": "base URL of its media server", ...}: where bridges to meetings' homes go`)
	peerCreds := fs.String("peer-credentials", "", `JSON file {"dc-id": "credential", ...}: the datacenters that may open bridges to this one`)
	loopbackMedia := fs.Bool("loopback-media", false, "run WebRTC on 127.0.0.1 only (development and tests)")
	publicIP := fs.String("public-ip", "", "the address to advertise in ICE candidates (a DC behind 1:1 NAT)")
	mediaUDP := fs.String("media-udp", "", "carry every PeerConnection on this one UDP address (for example :3478); default: a port per connection")
	allowUnverified := fs.Bool("allow-unverified", false, "serve a config that fails geofence verify (logged loudly and exported as a metric; admissions still enforce its rules)")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 0 {
		return usageErr(env, fs, "unexpected arguments %q", pos)
	}
	for _, req := range []struct{ name, value string }{{"id", *id}, {"config", *cfgPath}, {"directory", *directory}} {
		if req.value == "" {
			return usageErr(env, fs, "--%s is required", req.name)
		}
	}
	f, err := agent.ParseFault(*fault)
	if err != nil {
		return usageErr(env, fs, "--fault: %v", err)
	}
	if *sessionTTL < time.Second {
		return usageErr(env, fs, "--session-ttl must be at least 1s, got %v", *sessionTTL)
	}
	keys, err := ticket.NewRemoteKeys(strings.TrimRight(*directory, "/")+ticket.JWKSPath, nil, *issuer, nil)
	if err != nil {
		return usageErr(env, fs, "--directory: %v", err)
	}
	var credential string
	if *credFile != "" {
		b, err := os.ReadFile(*credFile)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence dc: %v\n", err)
			return ExitUsage
		}
		if credential = strings.TrimSpace(string(b)); credential == "" {
			fmt.Fprintf(env.Stderr, "geofence dc: credential file %s is empty\n", *credFile)
			return ExitUsage
		}
	}
	sv, code := loadServing(env, "dc", *cfgPath, *allowUnverified)
	if sv == nil {
		return code
	}

	log := newLogger(env).With("role", "dc")
	// Fail early on a wrong URL or issuer, but start when the directory is not up yet: the
	// keys are fetched again at the first ticket, and tickets are refused until then.
	if err := keys.Refresh(ctx); err != nil {
		log.Warn("cannot fetch the directory's ticket keys yet; connects are refused until it answers", "err", err)
	}
	reg := newRegistry()
	a, err := agent.New(agent.Config{
		ID: *id, Model: sv.model, Keys: keys, Directory: *directory, Credential: credential, SessionTTL: *sessionTTL,
		Logger: log, Registry: reg, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Unverified: sv.unverified, // the agent logs it at error level and exports it
		// The meeting page, at /meet/.
		Page: http.StripPrefix(strings.TrimSuffix(meetingui.PagePath, "/"), meetingui.Handler()),
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dc: %v\n", err)
		return ExitUsage
	}
	a.SetFault(f)
	media, code := newMediaServer(env, fs, a, keys, credential, log, reg, mediaFlags{
		peers: *peersFile, peerCreds: *peerCreds, loopback: *loopbackMedia, publicIP: *publicIP, udp: *mediaUDP})
	if media == nil {
		return code
	}
	defer media.close()
	if *etcdURLs != "" {
		stop, err := watchPushedConfig(ctx, *etcdURLs, *etcdPrefix, a, reg, log)
		if err != nil {
			return usageErr(env, fs, "--etcd: %v", err)
		}
		defer stop()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dc: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(env.Stdout, "dc %s listening on http://%s\n", *id, ln.Addr())
	log.Info("media signalling", "url", "ws://"+ln.Addr().String()+wire.RTCPath, "loopback_only", *loopbackMedia)
	if err := a.Serve(ctx, ln); err != nil {
		fmt.Fprintf(env.Stderr, "geofence dc: %v\n", err)
		return ExitFinding
	}
	return ExitOK
}

type mediaFlags struct {
	peers, peerCreds, publicIP, udp string
	loopback                        bool
}

// mediaServer is the DC's media server and what it holds open.
type mediaServer struct {
	*sfu.Server
	udp net.PacketConn
}

func (m *mediaServer) close() {
	if m.udp != nil {
		m.udp.Close()
	}
}

// newMediaServer makes the datacenter's media server inside agent a; nil and an exit code on
// a bad flag.
func newMediaServer(env Env, fs *flag.FlagSet, a *agent.Agent, keys *ticket.RemoteKeys, credential string,
	log *slog.Logger, reg prometheus.Registerer, f mediaFlags) (*mediaServer, int) {
	peers := map[string]string{}
	if f.peers != "" {
		if err := readJSONFile(f.peers, &peers); err != nil {
			return nil, usageErr(env, fs, "--peers: %v", err)
		}
	}
	creds := map[string]string{}
	if f.peerCreds != "" {
		if err := readJSONFile(f.peerCreds, &creds); err != nil {
			return nil, usageErr(env, fs, "--peer-credentials: %v", err)
		}
	}
	if len(peers) > 0 && credential == "" {
		return nil, usageErr(env, fs, "--peers needs --credential-file: the homes of bridged meetings check this datacenter's credential")
	}
	if f.loopback && f.publicIP != "" {
		return nil, usageErr(env, fs, "--loopback-media and --public-ip exclude each other")
	}
	n := sfu.Network{Loopback: f.loopback}
	if f.publicIP != "" {
		if net.ParseIP(f.publicIP) == nil {
			return nil, usageErr(env, fs, "--public-ip: %q is not an IP address", f.publicIP)
		}
		n.PublicIPs = []string{f.publicIP}
	}
	m := &mediaServer{}
	if f.udp != "" {
		pc, err := net.ListenPacket("udp4", f.udp)
		if err != nil {
			return nil, usageErr(env, fs, "--media-udp: %v", err)
		}
		m.udp, n.UDP = pc, pc
	}
	srv, err := sfu.New(sfu.Config{ID: a.ID(), Model: a.Model, Keys: keys, Sessions: a, Network: n,
		Credential: credential, PeerCredentials: creds,
		Peers:  func(dc string) (string, bool) { u, ok := peers[dc]; return u, ok },
		Logger: log, Registry: reg})
	if err == nil {
		err = a.SetMedia(srv)
	}
	if err != nil {
		m.close()
		fmt.Fprintf(env.Stderr, "geofence dc: %v\n", err)
		return nil, ExitUsage
	}
	m.Server = srv
	return m, ExitOK
}

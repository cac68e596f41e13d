package cli

import (
	"context"
	"fmt"
	"github.com/geofence/geofence/directory/etcdstore"
	"net"
	"os"
	"strings"
	"time"

	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/ticket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func runDC(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "dc", "--id ID --config FILE --directory URL [--listen ADDR] [--credential-file F] [--session-ttl D] [--allow-unverified]")
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
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dc: %v\n", err)
		return ExitUsage
	}
	a.SetFault(f)
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
	if err := a.Serve(ctx, ln); err != nil {
		fmt.Fprintf(env.Stderr, "geofence dc: %v\n", err)
		return ExitFinding
	}
	return ExitOK
}

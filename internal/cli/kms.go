package cli

import (
	"time"

	"context"
	"fmt"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/explain"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"net"
	"strings"

	"github.com/geofence/geofence/kms"
	"github.com/geofence/geofence/ticket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// runKMS serves one key server (DESIGN.md section 8) until ctx ends.
func runKMS(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "kms", "--dc ID --config FILE --directory URL [--listen ADDR] [--kek-file FILE] [--retain DURATION] [--rotate-interval DURATION] [--evidence DIR [--evidence-keys DIR] [--strict-evidence]] [--allow-unverified]")
	dc := fs.String("dc", "", "the id, in the config, of the datacenter this key server runs in (required)")
	cfgPath := fs.String("config", "", "the config file (required)")
	dirURL := fs.String("directory", "", "the directory's base URL, whose published keys verify tickets (required; https, or http to loopback)")
	listen := fs.String("listen", "127.0.0.1:0", "address to serve the key API on")
	kekFile := fs.String("kek-file", "", "file holding the 32-byte key-encryption key: 32 raw bytes, 64 hex characters or base64 (default: the "+kms.EnvKEK+" environment variable)")
	retain := fs.Duration("retain", kms.DefaultRetain, "how long a superseded key epoch stays available after a participant leaves")
	rotateInterval := fs.Duration("rotate-interval", kms.DefaultRotateInterval, "the shortest time between two key rotations of a meeting: leaves in between are coalesced into one new epoch")
	etcdURLs := fs.String("etcd", "", "comma-separated etcd client URLs: keep meetings' sealed keys there, shared with the meeting's other key servers (which must have the same KEK); default: in this process")
	etcdPrefix := fs.String("etcd-prefix", etcdstore.DefaultPrefix, "with --etcd: the key prefix of the deployment's state")
	evidenceDir := fs.String("evidence", "", "write every key issued or refused to the evidence logs in this folder (one per region; may be the directory's, on the same machine)")
	strict := fs.Bool("strict-evidence", false, "refuse keys whose evidence cannot be written (needs --evidence)")
	evidenceKeys := fs.String("evidence-keys", "", "the folder of the evidence keys (keys/checkpoint.key, keys/hash.key); default: the --evidence folder")
	allow := fs.Bool("allow-unverified", false, "serve a config that does not verify (logged loudly and exported as a metric)")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	switch {
	case len(pos) > 0:
		return usageErr(env, fs, "unexpected arguments %q", pos)
	case *dc == "":
		return usageErr(env, fs, "--dc is required")
	case *cfgPath == "":
		return usageErr(env, fs, "--config is required")
	case *dirURL == "":
		return usageErr(env, fs, "--directory is required")
	case *retain <= 0:
		return usageErr(env, fs, "--retain must be positive, got %v", *retain)
	case *rotateInterval <= 0:
		return usageErr(env, fs, "--rotate-interval must be positive, got %v", *rotateInterval)
	}
	// No KEK, no key server: keys are never held unsealed (I5).
	kek, err := kms.LoadKEK(*kekFile, env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence kms: %v\n", err)
		return ExitUsage
	}
	defer clear(kek)
	sv, code := loadServing(env, "kms", *cfgPath, *allow)
	if sv == nil {
		return code
	}
	keys, err := ticket.NewRemoteKeys(strings.TrimSuffix(*dirURL, "/")+ticket.JWKSPath, nil, Issuer, nil)
	if err != nil {
		return usageErr(env, fs, "--directory: %v", err)
	}
	reg := newRegistry()
	var shared kms.Records
	if *etcdURLs != "" {
		cli, err := clientv3.New(clientv3.Config{Endpoints: explain.SplitList(*etcdURLs), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return usageErr(env, fs, "--etcd: %v", err)
		}
		defer cli.Close()
		shared = etcdstore.New(cli, *etcdPrefix)
	}
	log := newLogger(env)
	kcfg := kms.Config{
		DC: *dc, Model: sv.model, Keys: keys, KEK: kek, Retain: *retain, RotateInterval: *rotateInterval, Shared: shared,
		Logger: log, Registry: reg, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Unverified: sv.unverified,
	}
	logs, code := openEvidence(ctx, env, "kms", *evidenceDir, *evidenceKeys, *strict, sv, log, reg)
	if code != ExitOK {
		return code
	}
	if logs != nil {
		defer closeEvidence(env, "kms", logs)
		kcfg.Decisions = logs.rec
	}
	srv, err := kms.New(kcfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence kms: %v\n", err)
		return ExitUsage
	}
	clear(kek) // the server keeps only its cipher
	if *etcdURLs != "" {
		// The deployment's store holds the pushed config too: serve it, verified here first.
		stop, err := watchPushedConfig(ctx, *etcdURLs, *etcdPrefix, srv, reg, log)
		if err != nil {
			return usageErr(env, fs, "--etcd: %v", err)
		}
		defer stop()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence kms: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(env.Stdout, "kms %s listening on http://%s (tickets from %s)\n", *dc, ln.Addr(), *dirURL)
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintf(env.Stderr, "geofence kms: %v\n", err)
		return ExitFinding
	}
	return ExitOK
}

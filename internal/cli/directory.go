package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/clientip"
	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/dashboard"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/directory/configsync"
	"github.com/geofence/geofence/directory/directoryhttp"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/examples"
	"github.com/geofence/geofence/explain"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/identity"
	"github.com/geofence/geofence/internal/httpserve"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/verify"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultGeoIP is where scripts/install-geoip.sh puts the country database.
const DefaultGeoIP = "var/geoip/country.mmdb"

// Issuer is the ticket issuer every role agrees on.
const Issuer = wire.TicketIssuer

// serving is a config loaded for a process that serves it.
type serving struct {
	model      *policy.Model
	unverified bool
	// digest is the config file's audit.Digest and report what verify said of it: what the
	// evidence log records of the config in force.
	digest string
	report *verify.Report
}

// loadServing loads and verifies a config (the embedded world when path is ""), refusing one
// with errors unless allowUnverified (DESIGN.md section 6).
func loadServing(env Env, cmd, path string, allowUnverified bool) (*serving, int) {
	var (
		c    *config.Config
		errs config.ErrorList
	)
	var digest string
	if path == "" {
		c, errs = config.Parse("examples/world.yaml (embedded)", examples.World)
		digest = audit.Digest(examples.World)
	} else {
		var err error
		c, err = config.Load(path)
		if c == nil {
			fmt.Fprintf(env.Stderr, "geofence %s: %v\n", cmd, err)
			return nil, ExitUsage
		}
		errors.As(err, &errs)
		// The file was just read whole; read again for its digest (a file replaced in
		// between gives entries a digest no auditor's copy has: a loud failure, not a silent one).
		if b, err := os.ReadFile(path); err == nil {
			digest = audit.Digest(b)
		}
	}
	rep, m := verify.Config(c, errs, verify.Options{})
	// Malformed compliance sections cannot be served even with --allow-unverified: a broken
	// deny list or narrowing would be dropped, which widens residency. Fail closed (I4).
	for _, e := range errs {
		for _, section := range []string{"residency", "accounts", "regions", "plans", "default_region"} {
			if e.Path == section || strings.HasPrefix(e.Path, section+".") {
				if allowUnverified {
					fmt.Fprintf(env.Stderr, "%s\ngeofence %s: the residency rules, regions, plans or accounts of %s are malformed; they cannot be served, even with --allow-unverified\n", e.Error(), cmd, c.File)
					return nil, ExitUsage
				}
			}
		}
	}
	if !rep.OK || m == nil {
		for _, f := range rep.Findings {
			if f.Severity == verify.Error {
				fmt.Fprintln(env.Stderr, f.String())
			}
		}
		if !allowUnverified || m == nil {
			fmt.Fprintf(env.Stderr, "geofence %s: %s does not verify; fix the errors above, or start anyway with --allow-unverified\n", cmd, c.File)
			return nil, ExitUsage
		}
		fmt.Fprintf(env.Stderr, "geofence %s: WARNING: serving %s although it does not verify (--allow-unverified); every layer still enforces the rules at run time\n", cmd, c.File)
		return &serving{model: m, unverified: true, digest: digest, report: rep}, ExitOK
	}
	return &serving{model: m, digest: digest, report: rep}, ExitOK
}

// evidence is a process's open evidence logs and the recorder its servers report to.
type evidence struct {
	*audit.Logs
	rec *audit.Recorder
}

// openEvidence opens the evidence folder dir for a production role; nil when dir is "".
func openEvidence(ctx context.Context, env Env, cmd, dir, keys string, strict bool, sv *serving, log *slog.Logger, reg prometheus.Registerer) (*evidence, int) {
	if dir == "" {
		if strict || keys != "" {
			fmt.Fprintf(env.Stderr, "geofence %s: --strict-evidence and --evidence-keys need --evidence DIR\n", cmd)
			return nil, ExitUsage
		}
		return nil, ExitOK
	}
	audit.QuietTessera(log)
	logs, rec, err := audit.OpenFolder(ctx, audit.Folder{Dir: dir, Keys: keys, Model: sv.model, Digest: sv.digest, Report: sv.report,
		Strict: strict, Logger: log, Registry: reg})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence %s: %v\n", cmd, err)
		return nil, ExitUsage
	}
	return &evidence{logs, rec}, ExitOK
}

// closeEvidence writes the last checkpoint once the servers have drained.
func closeEvidence(env Env, cmd string, e *evidence) {
	if err := e.Close(context.Background()); err != nil {
		fmt.Fprintf(env.Stderr, "geofence %s: %v\n", cmd, err)
	}
}

func newLogger(env Env) *slog.Logger {
	return slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveHTTP serves h on ln with the bounds every Geofence server has until ctx ends, then
// drains.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, reg prometheus.Registerer, log *slog.Logger) error {
	m, err := httpserve.NewMetrics(reg)
	if err != nil {
		return err
	}
	return httpserve.Serve(ctx, ln, h, httpserve.Options{Name: "directory", Metrics: m, Logger: log})
}

func readJSONFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func runDirectory(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "directory", "--config FILE --admin-token-file FILE (--geoip FILE | --no-geoip) [--store memory|etcd --etcd URL,...] [--listen ADDR] [--trusted-proxies CIDRS] [--credentials FILE] [--endpoints FILE] [--evidence DIR [--evidence-keys DIR] [--strict-evidence]] [--allow-unverified]")
	cfgPath := fs.String("config", "", "the config file (required)")
	geoPath := fs.String("geoip", DefaultGeoIP, "the MaxMind DB country database")
	noGeoIP := fs.Bool("no-geoip", false, "run without a GeoIP database: every client is placed in the default region")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve the API on")
	proxies := fs.String("trusted-proxies", "", "CIDRs whose X-Forwarded-For is believed, e.g. 10.0.0.0/8")
	adminFile := fs.String("admin-token-file", "", "file holding the operator's bearer token (at least 32 characters); required")
	creds := fs.String("credentials", "", `JSON file {"dc-id": "bearer credential", ...} for load reports`)
	endpoints := fs.String("endpoints", "", `JSON file {"media": {"dc-id": "URL"}, "kms": {"dc-id": "URL"}}`)
	staleAfter := fs.Duration("stale-after", directory.DefaultStaleAfter, "a DC whose last load report is older is down")
	ttl := fs.Duration("ticket-ttl", directoryhttp.DefaultTicketTTL, "how long tickets are valid (at most 24h)")
	idle := fs.Duration("meeting-idle", directory.DefaultMeetingIdle, "a meeting nobody joins for this long ends")
	maxMeetings := fs.Int("max-meetings-per-account", directory.DefaultMaxMeetingsPerAccount, "open meetings one host account may hold (-1: no bound)")
	storeKind := fs.String("store", "memory", `where meetings and API accounts live: "memory" (this process only) or "etcd" (shared by replicated directories)`)
	etcdURLs := fs.String("etcd", "", "comma-separated etcd client URLs, with --store etcd")
	etcdPrefix := fs.String("etcd-prefix", etcdstore.DefaultPrefix, "the key prefix of this deployment's state in etcd")
	var storeEtcd storeEndpoints
	fs.Var(&storeEtcd, "store-etcd", "with --store etcd and a config with stores: NAME=URL,... the etcd of config store NAME (repeat for each; the default store uses --etcd)")
	stateFile := fs.String("state-file", "", "with --store etcd: persist the last known state here and serve it after a restart while etcd is unreachable")
	allow := fs.Bool("allow-unverified", false, "serve a config that does not verify (logged loudly and exported as a metric)")
	evidence := fs.String("evidence", "", "write every decision to the evidence logs in this folder (one per region) and serve them at /v1/audit")
	strict := fs.Bool("strict-evidence", false, "refuse joins whose evidence cannot be written (needs --evidence)")
	evidenceKeys := fs.String("evidence-keys", "", "the folder of the evidence keys (keys/checkpoint.key, keys/hash.key; made on first use); default: the --evidence folder")
	rotate := fs.Duration("rotate-keys", 24*time.Hour, "how often the ticket signing key is rotated (0: never); retired keys stay published until their tickets expire")
	if _, err := parse(fs, args); err != nil {
		return flagErr(err)
	}
	if *cfgPath == "" {
		return usageErr(env, fs, "--config is required")
	}
	if *adminFile == "" {
		return usageErr(env, fs, "--admin-token-file is required: operator endpoints (accounts, meetings, state) need a bearer token")
	}
	if err := ticket.CheckTTL(*ttl); err != nil {
		return usageErr(env, fs, "--ticket-ttl: %v", err)
	}
	if *idle <= 0 {
		return usageErr(env, fs, "--meeting-idle must be positive")
	}
	switch {
	case *storeKind != "memory" && *storeKind != "etcd":
		return usageErr(env, fs, `--store %q: want "memory" or "etcd"`, *storeKind)
	case *storeKind == "etcd" && *etcdURLs == "":
		return usageErr(env, fs, "--store etcd needs --etcd URL,...")
	case *storeKind == "memory" && *etcdURLs != "":
		return usageErr(env, fs, "--etcd is only for --store etcd")
	}
	geoSet := fs.Lookup("geoip").Value.String() != DefaultGeoIP
	if *noGeoIP && geoSet {
		return usageErr(env, fs, "--geoip and --no-geoip contradict each other")
	}
	operator, err := identity.LoadOperator(*adminFile)
	if err != nil {
		return usageErr(env, fs, "--admin-token-file: %v", err)
	}
	sv, code := loadServing(env, "directory", *cfgPath, *allow)
	if sv == nil {
		return code
	}
	var (
		geo     directoryhttp.Locator
		geoDesc = "none (--no-geoip): every client is in the default region"
	)
	if !*noGeoIP {
		// A production directory without GeoIP would put every client in the default region
		// (DESIGN.md section 7): refuse unless told.
		db, err := geoip.Open(*geoPath)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence directory: %v\ngeofence directory: a directory needs a GeoIP database (--geoip FILE; scripts/install-geoip.sh installs one), or --no-geoip to place every client in the default region\n", err)
			return ExitUsage
		}
		geo, geoDesc = db, fmt.Sprintf("%s (%s)", *geoPath, db.Metadata())
	}
	trusted, err := clientip.ParsePrefixes(*proxies)
	if err != nil {
		return usageErr(env, fs, "--trusted-proxies: %v", err)
	}
	var credMap map[string]string
	if *creds != "" {
		if err := readJSONFile(*creds, &credMap); err != nil {
			return usageErr(env, fs, "--credentials: %v", err)
		}
	}
	var eps struct{ Media, KMS map[string]string }
	if *endpoints != "" {
		if err := readJSONFile(*endpoints, &eps); err != nil {
			return usageErr(env, fs, "--endpoints: %v", err)
		}
	}
	signer, err := ticket.NewSigner(Issuer, nil, nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence directory: %v\n", err)
		return ExitFinding
	}
	log := newLogger(env)
	reg := newRegistry()
	var store directory.Store // nil: in memory
	var multiStores map[string]directory.Store
	if *storeKind == "etcd" {
		cli, err := clientv3.New(clientv3.Config{Endpoints: explain.SplitList(*etcdURLs), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return usageErr(env, fs, "--etcd: %v", err)
		}
		defer cli.Close()
		// Joins read meetings from a copy the store keeps by watching etcd; writes (new
		// meetings, home moves) are transactions on etcd itself.
		es, err := etcdstore.NewCached(ctx, cli, etcdstore.CacheConfig{Prefix: *etcdPrefix, StateFile: *stateFile, Logger: log})
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence directory: load state from etcd: %v\n", err)
			return ExitFinding
		}
		stores := map[string]directory.Store{}
		for _, st := range sv.model.Stores {
			if len(st.Regions) == 0 {
				stores[st.ID] = es // the default store is --etcd's
			}
		}
		for name, urls := range storeEtcd {
			scli, err := clientv3.New(clientv3.Config{Endpoints: explain.SplitList(urls), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				return usageErr(env, fs, "--store-etcd %s: %v", name, err)
			}
			defer scli.Close()
			sf := ""
			if *stateFile != "" {
				sf = *stateFile + "." + name
			}
			ns, err := etcdstore.NewCached(ctx, scli, etcdstore.CacheConfig{Prefix: *etcdPrefix, StateFile: sf, Logger: log})
			if err != nil {
				fmt.Fprintf(env.Stderr, "geofence directory: load store %s from etcd: %v\n", name, err)
				return ExitFinding
			}
			stores[name] = ns
		}
		for _, st := range sv.model.Stores {
			if _, ok := stores[st.ID]; !ok {
				log.Warn("config store without endpoints: the meetings of its regions will be refused", "store", st.ID, "country", st.Country.Code())
			}
		}
		if len(sv.model.Stores) > 0 {
			multiStores = stores
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "geofence_directory_store_staleness_seconds",
			Help: "Seconds since etcd last answered this directory's watch; grows while etcd is unreachable.",
		}, func() float64 { return es.Staleness(time.Now()).Seconds() }))
		store = es
	}
	var logsRecorder *audit.Recorder
	dcfg := directory.Config{
		Model: sv.model, Store: store, Stores: multiStores, Endpoints: eps.Media, KMSEndpoints: eps.KMS,
		StaleAfter: *staleAfter, MeetingIdle: *idle, MaxMeetingsPerAccount: *maxMeetings,
		Unverified: sv.unverified, Logger: log, Registry: reg,
	}
	logs, code := openEvidence(ctx, env, "directory", *evidence, *evidenceKeys, *strict, sv, log, reg)
	if code != ExitOK {
		return code
	}
	auditDir := ""
	feed := dashboard.NewFeed(0) // the operator dashboard's view of the join decisions
	dcfg.Decisions = feed
	if logs != nil {
		defer closeEvidence(env, "directory", logs)
		dcfg.Decisions, auditDir = dashboard.Tee(logs.rec, feed), logs.Folder()
		logsRecorder = logs.rec
	}
	core, err := directory.New(dcfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence directory: %v\n", err)
		return ExitFinding
	}
	dash, err := dashboard.New(dashboard.Config{Core: core, Feed: feed, Gatherer: reg, Unverified: sv.unverified, Store: *storeKind,
		Logger: log, Registry: reg})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence directory: %v\n", err)
		return ExitFinding
	}
	api, err := directoryhttp.New(directoryhttp.Config{
		Core: core, Signer: signer, TicketTTL: *ttl, GeoIP: geo, Proxies: clientip.Resolver{Trusted: trusted},
		Credentials: credMap, Operator: operator, Gatherer: reg, Logger: log, Registry: reg, AuditDir: auditDir,
		Dashboard: dash.Handler(),
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence directory: %v\n", err)
		return ExitFinding
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence directory: %v\n", err)
		return ExitUsage
	}
	if *rotate > 0 {
		go rotateKeys(ctx, signer, *rotate, log)
	}
	if es, ok := store.(*etcdstore.Store); ok {
		// The config pushed to the store (geofence config push) wins over --config, and every
		// later push is verified here again before it is served.
		sync, err := configsync.New(es, core, reg, log)
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence directory: %v\n", err)
			return ExitFinding
		}
		if logsRecorder != nil {
			// Every pushed config swapped in is a config change in the evidence log (I6).
			rec := logsRecorder
			sync.OnApply = func(cr etcdstore.ConfigRecord, m *policy.Model, rep *verify.Report) {
				if err := rec.ConfigChanged(ctx, m, audit.Digest(cr.YAML), rep, time.Now()); err != nil {
					log.Error("record a config change in the evidence log", "digest", cr.Digest, "err", err)
				}
			}
		}
		go sync.Run(ctx)
		// Each directory signs with keys of its own and publishes their public halves, so
		// that every directory's key set verifies every directory's tickets.
		go shareTicketKeys(ctx, es, signer, log)
		go es.WatchKeys(ctx, func(keys []ticket.PublicKey) {
			if err := signer.SetPeers(keys); err != nil {
				log.Error("peer ticket keys", "err", err)
			}
		})
	}
	go core.Run(ctx)
	go dash.Run(ctx)
	fmt.Fprintf(env.Stdout, "directory listening on http://%s (geoip: %s; store: %s)\n", ln.Addr(), geoDesc, *storeKind)
	if err := serveHTTP(ctx, ln, api.Handler(), reg, log); err != nil {
		fmt.Fprintf(env.Stderr, "geofence directory: %v\n", err)
		return ExitFinding
	}
	return ExitOK
}

// storeEndpoints is the repeatable --store-etcd NAME=URL,... flag.
type storeEndpoints map[string]string

func (s *storeEndpoints) String() string { return fmt.Sprint(map[string]string(*s)) }

func (s *storeEndpoints) Set(v string) error {
	name, urls, ok := strings.Cut(v, "=")
	if !ok || name == "" || urls == "" {
		return fmt.Errorf("want NAME=URL,..., got %q", v)
	}
	if *s == nil {
		*s = storeEndpoints{}
	}
	if _, dup := (*s)[name]; dup {
		return fmt.Errorf("store %s given twice", name)
	}
	(*s)[name] = urls
	return nil
}

// shareTicketKeys publishes the signer's public keys to the store now and every
// keyShareInterval (a rotation shows within one interval), until ctx is done.
func shareTicketKeys(ctx context.Context, es *etcdstore.Store, signer *ticket.Signer, log *slog.Logger) {
	instance := signer.KeyID()
	t := time.NewTicker(keyShareInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := es.PublishKeys(pctx, instance, signer.PublicKeys()); err != nil {
			log.Warn("publish ticket keys", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keyShareInterval is how often a directory publishes its ticket keys. A rotated-in key is
// published as the next key a rotation ahead, so verifiers know it before it signs.
const keyShareInterval = 30 * time.Second

// rotateKeys rotates the ticket signing key every period and drops retired keys once every
// ticket they signed has expired; verifiers pick the new key up from the published key set.
func rotateKeys(ctx context.Context, signer *ticket.Signer, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := signer.Rotate(); err != nil {
				log.Error("rotate ticket signing key", "err", err)
			} else {
				log.Info("rotated ticket signing key", "kid", signer.KeyID())
			}
		case <-prune.C:
			if n, err := signer.Prune(); err != nil {
				log.Error("prune ticket signing keys", "err", err)
			} else if n > 0 {
				log.Info("dropped retired ticket signing keys", "count", n)
			}
		}
	}
}

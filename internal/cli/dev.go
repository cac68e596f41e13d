package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/directory/directoryhttp"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/internal/etcdembed"
	meetingui "github.com/geofence/geofence/web/meeting"
)

// devTokenTTL is how long the token the dev banner prints is valid.
const devTokenTTL = 12 * time.Hour

func runDev(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "dev", "[--config FILE] [--geoip FILE] [--listen ADDR] [--no-agents] [--allow-unverified] [--log-level LEVEL]")
	cfgPath := fs.String("config", "", "the config file (default: the embedded examples/world.yaml)")
	geoPath := fs.String("geoip", DefaultGeoIP, "the MaxMind DB country database (scripts/install-geoip.sh installs one)")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the directory (use 127.0.0.1:0 for any free port)")
	noAgents := fs.Bool("no-agents", false, "start no DC agents: DC state comes only from load reports (a DC with none is down)")
	allow := fs.Bool("allow-unverified", false, "serve a config that does not verify (logged loudly and exported as a metric)")
	evidence := fs.String("evidence", "", "the folder of the evidence logs, one per region (default: a new temporary folder; an existing one is resumed)")
	strict := fs.Bool("strict-evidence", false, "refuse joins and keys whose evidence cannot be written")
	storeKind := fs.String("store", "memory", `"memory", or "etcd": an embedded etcd holds the shared state and a second directory serves beside the first, as a replicated deployment runs`)
	level := fs.String("log-level", "warn", "the least severe log records printed on stderr: debug, info, warn or error (info logs every decision)")
	if _, err := parse(fs, args); err != nil {
		return flagErr(err)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usageErr(env, fs, "--log-level %q: want debug, info, warn or error", *level)
	}
	sv, code := loadServing(env, "dev", *cfgPath, *allow)
	if sv == nil {
		return code
	}
	geo, geoDesc, code := openGeoIP(env, "dev", *geoPath, *geoPath != DefaultGeoIP)
	if code != ExitOK {
		return code
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dev: %v (try --listen 127.0.0.1:0)\n", err)
		return ExitUsage
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lvl}))
	audit.QuietTessera(log)
	if *evidence == "" {
		if *evidence, err = os.MkdirTemp("", "geofence-evidence-"); err != nil {
			ln.Close()
			fmt.Fprintf(env.Stderr, "geofence dev: %v (name a folder with --evidence)\n", err)
			return ExitUsage
		}
	}
	var etcdURLs []string
	switch *storeKind {
	case "memory":
	case "etcd":
		dir, err := os.MkdirTemp("", "geofence-dev-etcd-")
		if err != nil {
			ln.Close()
			fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
			return ExitFinding
		}
		defer os.RemoveAll(dir)
		e, err := etcdembed.Start(etcdembed.Member{Dir: dir})
		if err != nil {
			ln.Close()
			fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
			return ExitFinding
		}
		defer e.Close()
		etcdURLs = []string{etcdembed.ClientURL(e)}
	default:
		ln.Close()
		return usageErr(env, fs, `--store %q: want "memory" or "etcd"`, *storeKind)
	}
	st, err := devstack.New(devstack.Config{Model: sv.model, Unverified: sv.unverified, GeoIP: geo, Listener: ln,
		NoAgents: *noAgents, Logger: log, Evidence: *evidence, StrictEvidence: *strict, ConfigDigest: sv.digest, Report: sv.report,
		Etcd: etcdURLs})
	if err != nil {
		ln.Close()
		fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
		return ExitFinding
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()

	// A meeting to play with right away, and a token of the example account's own backend.
	var meeting, token string
	if st.DevAccount != "" {
		if rec, err := st.Core.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: st.DevAccount}); err == nil {
			meeting = rec.ID
			token, _ = st.Token("dev-participant", "", true, devTokenTTL)
		}
	}
	// The banner comes last, once the directory answers, so that start-up logs do not bury it.
	waitReady(ctx, st.URL)
	printDevBanner(env.Stdout, st, *cfgPath, geoDesc, meeting, token)
	err = <-done
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
		return ExitFinding
	}
	return ExitOK
}

// waitReady waits, for a few seconds at most, until the directory at url answers /readyz.
func waitReady(ctx context.Context, url string) {
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
		resp, err := c.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
}

// openGeoIP opens the country database for dev; a missing default database is a warning
// (every client is then in the default region), a missing named one an error.
func openGeoIP(env Env, cmd, path string, named bool) (directoryhttp.Locator, string, int) {
	db, err := geoip.Open(path)
	if err == nil {
		return db, fmt.Sprintf("%s (%s)", path, db.Metadata()), ExitOK
	}
	if named {
		fmt.Fprintf(env.Stderr, "geofence %s: %v\n", cmd, err)
		return nil, "", ExitUsage
	}
	fmt.Fprintf(env.Stderr, "geofence %s: no GeoIP database at %s: every client is placed in the default region; install one with scripts/install-geoip.sh\n", cmd, path)
	return nil, "none", ExitOK
}

func printDevBanner(w io.Writer, st *devstack.Stack, cfgPath, geoDesc, meeting, token string) {
	if cfgPath == "" {
		cfgPath = "examples/world.yaml (embedded)"
	}
	dirURL := st.URL
	fmt.Fprintf(w, "geofence dev: the whole system on loopback (loopback is trusted: it is the operator and may join as any account)\n\n")
	fmt.Fprintf(w, "  directory  %s\n", dirURL)
	fmt.Fprintf(w, "  dashboard  %s/ui/\n", dirURL)
	if st.PeerURL != "" {
		fmt.Fprintf(w, "  directory  %s (a second one, on the same etcd: %s)\n", st.PeerURL, strings.Join(st.EtcdURLs(), ","))
	}
	fmt.Fprintf(w, "  config     %s\n  geoip      %s\n", cfgPath, geoDesc)
	if st.EvidenceDir != "" {
		fmt.Fprintf(w, "  evidence   %s (one log per region; served at %s/v1/audit)\n", st.EvidenceDir, dirURL)
	}
	printServers(w, "agents", st.AgentURLs)
	printServers(w, "key servers", st.KMSURLs)
	if len(st.AgentURLs) == 0 {
		fmt.Fprintf(w, "  (--no-agents: every DC is down until it reports; report load for each DC first)\n")
	}
	fmt.Fprintf(w, "\nTry:\n")
	if len(st.AgentURLs) == 0 {
		fmt.Fprintf(w, "  curl -s -X PUT %s/v1/datacenters/us-den/load -d '{\"participants\":0,\"healthy\":true}'\n", dirURL)
	}
	if meeting != "" {
		acct := st.DevAccount
		fmt.Fprintf(w, "  geofence join --directory %s --meeting %s --account %s --client-ip 8.8.8.8\n", dirURL, meeting, acct)
		fmt.Fprintf(w, "  geofence join --directory %s --meeting %s --account %s --client-ip 175.16.199.1   # an address in China\n", dirURL, meeting, acct)
		if token != "" {
			fmt.Fprintf(w, "  # the real path: a join token minted by %s's backend (key %s, valid %s)\n", acct, st.DevKID, devTokenTTL)
			fmt.Fprintf(w, "  geofence join --directory %s --meeting %s --token %s --client-ip 8.8.8.8\n", dirURL, meeting, token)
		}
		fmt.Fprintf(w, "  curl -s -X POST %s/v1/meetings -d '{\"host_account\":\"%s\"}'\n", dirURL, acct)
		fmt.Fprintf(w, "  open %s%s?meeting=%s&account=%s&participant=alice&ip=81.2.69.142   # the meeting page (docs/meeting.md)\n", dirURL, meetingui.PagePath, meeting, acct)
	}
	if len(st.AgentURLs) > 0 {
		fmt.Fprintf(w, "  curl -s -X POST %s/v1/dev/datacenters/us-den/fault -d '{\"mode\":\"blackhole\"}'\n", dirURL)
		fmt.Fprintf(w, "  curl -s -X POST %s/v1/dev/datacenters/eu-ams/fault -d '{\"mode\":\"down\"}'   # red on the dashboard\n", dirURL)
	}
	fmt.Fprintf(w, "  curl -s '%s/v1/explain?country=DE&plan=pro'\n", dirURL)
	fmt.Fprintf(w, "  curl -s %s/v1/datacenters\n", dirURL)
	if st.EvidenceDir != "" {
		fmt.Fprintf(w, "  geofence audit verify --log %s --config %s   # after stopping dev, or any time\n", st.EvidenceDir, auditConfigHint(cfgPath))
	}
	fmt.Fprintf(w, "  %s\n", strings.Repeat("-", 20))
}

// auditConfigHint is the config file to name to audit verify.
func auditConfigHint(cfgPath string) string {
	if strings.HasSuffix(cfgPath, "(embedded)") {
		return "examples/world.yaml"
	}
	return cfgPath
}

func printServers(w io.Writer, what string, urls map[string]string) {
	ids := make([]string, 0, len(urls))
	for id := range urls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		fmt.Fprintf(w, "  %-10s none\n", what)
		return
	}
	fmt.Fprintf(w, "  %s (%d):\n", what, len(ids))
	for _, id := range ids {
		fmt.Fprintf(w, "    %-12s %s\n", id, urls[id])
	}
}

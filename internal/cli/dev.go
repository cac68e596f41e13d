package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/clientip"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/kms"
	"github.com/geofence/geofence/ticket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// loopback is the trusted proxy of dev mode: a newcomer plays any country with
// X-Forwarded-For (geofence join --client-ip).
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func runDev(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "dev", "[--config FILE] [--geoip FILE] [--listen ADDR] [--no-agents] [--allow-unverified]")
	cfgPath := fs.String("config", "", "the config file (default: the embedded examples/world.yaml)")
	geoPath := fs.String("geoip", DefaultGeoIP, "the MaxMind DB country database (scripts/install-geoip.sh installs one)")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the directory (use 127.0.0.1:0 for any free port)")
	noAgents := fs.Bool("no-agents", false, "start no DC agents: DC state comes only from load reports (a DC with none is down)")
	allow := fs.Bool("allow-unverified", false, "serve a config that does not verify (logged loudly and exported as a metric)")
	if _, err := parse(fs, args); err != nil {
		return flagErr(err)
	}
	sv, code := loadServing(env, "dev", *cfgPath, *allow)
	if sv == nil {
		return code
	}
	m := sv.model
	geo, geoDesc, code := openGeoIP(env, "dev", *geoPath, *geoPath != DefaultGeoIP)
	if code != ExitOK {
		return code
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := newLogger(env)
	reg := newRegistry()

	// Listen for every agent first, so the directory's tickets carry their endpoints.
	agentLns := map[string]net.Listener{}
	endpoints := map[string]string{}
	if !*noAgents {
		for _, dc := range m.DCs {
			if !dc.Media {
				continue
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
				return ExitFinding
			}
			agentLns[dc.ID] = ln
			endpoints[dc.ID] = "http://" + ln.Addr().String()
		}
	}
	// One key server per DC running kms, sealing its keys under a key-encryption key made
	// for this process (dev keeps no keys across restarts).
	kmsLns := map[string]net.Listener{}
	kmsEndpoints := map[string]string{}
	for _, dc := range m.DCs {
		if !dc.KMS {
			continue
		}
		kln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
			return ExitFinding
		}
		kmsLns[dc.ID] = kln
		kmsEndpoints[dc.ID] = "http://" + kln.Addr().String()
	}
	signer, err := ticket.NewSigner(Issuer, nil, nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
		return ExitFinding
	}
	dir, err := directory.New(directory.Config{
		Model: m, Signer: signer, GeoIP: geo, Proxies: clientip.Resolver{Trusted: loopback},
		Endpoints: endpoints, KMSEndpoints: kmsEndpoints, TrustLoopbackReports: true, Unverified: sv.unverified,
		Logger: log, Registry: reg,
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
		return ExitFinding
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dev: %v (try --listen 127.0.0.1:0)\n", err)
		return ExitUsage
	}
	dirURL := "http://" + ln.Addr().String()

	agents := map[string]*agent.Agent{}
	var wg sync.WaitGroup
	keys, err := ticket.NewRemoteKeys(dirURL+ticket.JWKSPath, nil, Issuer, nil)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
		return ExitFinding
	}
	kek := make([]byte, kms.KeySize)
	rand.Read(kek)
	for id, kln := range kmsLns {
		k, err := kms.New(kms.Config{DC: id, Model: m, Keys: keys, KEK: kek, Logger: log.With("kms", id),
			Registry: reg, Unverified: sv.unverified})
		if err != nil {
			fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
			return ExitFinding
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := k.Serve(ctx, kln); err != nil {
				log.Error("key server stopped", "dc", id, "err", err)
			}
		}()
	}
	if len(agentLns) > 0 {
		for id, aln := range agentLns {
			a, err := agent.New(agent.Config{ID: id, Model: m, Keys: keys, Directory: dirURL,
				Logger: log.With("dc", id), Registry: reg, Unverified: sv.unverified})
			if err != nil {
				fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
				return ExitFinding
			}
			agents[id] = a
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.Serve(ctx, aln); err != nil {
					log.Error("agent stopped", "dc", id, "err", err)
				}
			}()
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/", dir.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /v1/dev/datacenters/{id}/fault", func(w http.ResponseWriter, r *http.Request) {
		faultHandler(w, r, agents)
	})

	// A meeting to play with right away.
	demo := createMeeting(dir.Handler(), firstAccount(m.Accounts))
	printDevBanner(env.Stdout, dirURL, *cfgPath, geoDesc, endpoints, kmsEndpoints, demo, firstAccount(m.Accounts))
	err = serveHTTP(ctx, ln, mux)
	cancel()
	wg.Wait()
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence dev: %v\n", err)
		return ExitFinding
	}
	return ExitOK
}

func faultHandler(w http.ResponseWriter, r *http.Request, agents map[string]*agent.Agent) {
	id := r.PathValue("id")
	a := agents[id]
	w.Header().Set("Content-Type", "application/json")
	if a == nil {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "unknown_datacenter", "message": fmt.Sprintf("no agent for datacenter %q in this dev process", id)})
		return
	}
	var req struct {
		Mode string `json:"mode"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err := json.Unmarshal(body, &req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "bad_request", "message": `want {"mode": "blackhole" | "refuse" | "none"}`})
		return
	}
	f, err := agent.ParseFault(req.Mode)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "bad_request", "message": err.Error()})
		return
	}
	a.SetFault(f)
	json.NewEncoder(w).Encode(map[string]string{"datacenter": id, "mode": f.String()})
}

// createMeeting creates a meeting through the handler (no network), returning its id or "".
func createMeeting(h http.Handler, host string) string {
	if host == "" {
		return ""
	}
	req := httptest.NewRequest("POST", "/v1/meetings", bytes.NewReader([]byte(`{"host_account":"`+host+`"}`)))
	req.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var mt struct{ ID string }
	json.Unmarshal(rec.Body.Bytes(), &mt)
	return mt.ID
}

func firstAccount[V any](accts map[string]V) string {
	if _, ok := accts["acme"]; ok {
		return "acme"
	}
	ids := make([]string, 0, len(accts))
	for id := range accts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

func printDevBanner(w io.Writer, dirURL, cfgPath, geoDesc string, endpoints, kmsEndpoints map[string]string, meeting, account string) {
	if cfgPath == "" {
		cfgPath = "examples/world.yaml (embedded)"
	}
	fmt.Fprintf(w, "geofence dev: the whole control plane on loopback\n\n")
	fmt.Fprintf(w, "  directory  %s\n  config     %s\n  geoip      %s\n", dirURL, cfgPath, geoDesc)
	ids := make([]string, 0, len(endpoints))
	for id := range endpoints {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		fmt.Fprintf(w, "  agents     none (--no-agents): report load with PUT %s/v1/datacenters/ID/load\n", dirURL)
	} else {
		fmt.Fprintf(w, "  agents     %d datacenters:\n", len(ids))
		for _, id := range ids {
			fmt.Fprintf(w, "    %-12s %s\n", id, endpoints[id])
		}
	}
	kids := make([]string, 0, len(kmsEndpoints))
	for id := range kmsEndpoints {
		kids = append(kids, id)
	}
	sort.Strings(kids)
	fmt.Fprintf(w, "  key servers %d:\n", len(kids))
	for _, id := range kids {
		fmt.Fprintf(w, "    %-12s %s\n", id, kmsEndpoints[id])
	}
	fmt.Fprintf(w, "\nTry (agents report within a second of starting):\n")
	if meeting != "" {
		fmt.Fprintf(w, "  geofence join --directory %s --meeting %s --account %s --client-ip 8.8.8.8\n", dirURL, meeting, account)
		fmt.Fprintf(w, "  geofence join --directory %s --meeting %s --account %s --client-ip 175.16.199.1   # an address in China\n", dirURL, meeting, account)
	}
	fmt.Fprintf(w, "  curl -s -X POST %s/v1/meetings -d '{\"host_account\":\"%s\"}'\n", dirURL, account)
	fmt.Fprintf(w, "  curl -s -X POST %s/v1/dev/datacenters/us-den/fault -d '{\"mode\":\"blackhole\"}'\n", dirURL)
	fmt.Fprintf(w, "  curl -s '%s/v1/explain?country=DE&plan=pro'\n", dirURL)
	fmt.Fprintf(w, "  curl -s %s/v1/datacenters\n", dirURL)
	fmt.Fprintf(w, "  %s\n", strings.Repeat("-", 20))
}

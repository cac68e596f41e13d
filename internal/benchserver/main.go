// Command benchserver serves, on loopback, a directory on the example world (every DC
// reporting healthy every second, a meeting created) next to a bare net/http handler that
// returns a fixed JSON body of the same size as a ticket, so scripts/bench-join.sh can load
// both with wrk in the same run and compare. A second directory, identical but writing every
// decision to evidence logs (package audit, asynchronous, in a temporary folder), measures
// what the log costs a join.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/clientip"
	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/directory/directoryhttp"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/examples"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/internal/etcdembed"
	"github.com/geofence/geofence/internal/httpserve"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/verify"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// usGeoIP places every address in the US, so every join exercises selection fully.
type usGeoIP struct{}

func (usGeoIP) Lookup(netip.Addr) (geoip.Result, error) {
	return geoip.Result{Country: "US", Found: true}, nil
}

func main() {
	storeKind := flag.String("store", "memory", `the directory's store: "memory", or "etcd" (an embedded one-member etcd in this process, read through the store's watched copy)`)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, errs := config.Parse("world.yaml", examples.World)
	if len(errs) > 0 {
		log.Fatal(errs)
	}
	m, err := policy.New(c)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := ticket.NewSigner("geofence", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	var store directory.Store
	if *storeKind == "etcd" {
		store = embeddedEtcd(ctx)
	}
	core, err := directory.New(directory.Config{Model: m, Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	// Loopback is trusted, as in geofence dev: joins carry no join token, so the figures
	// measure the join path (selection, claims, signing, the answer), not token checks.
	dir, err := directoryhttp.New(directoryhttp.Config{
		Core: core, Signer: signer, GeoIP: usGeoIP{},
		Proxies:       clientip.Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		TrustLoopback: true, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	auditURL, closeAudit, err := serveWithAudit(ctx, m, c)
	if err != nil {
		log.Fatal(err)
	}
	defer closeAudit()
	dirLn, _ := net.Listen("tcp", "127.0.0.1:0")
	bareLn, _ := net.Listen("tcp", "127.0.0.1:0")
	// The directory is served as in production: through httpserve's deadlines and caps.
	go httpserve.Serve(ctx, dirLn, dir.Handler(), httpserve.Options{Name: "directory"})
	dirURL := "http://" + dirLn.Addr().String()

	report := func() {
		for _, u := range []string{dirURL, auditURL} {
			for _, d := range m.DCs {
				req, _ := http.NewRequest("PUT", u+"/v1/datacenters/"+d.ID+"/load", bytes.NewReader([]byte(`{"participants":0,"healthy":true}`)))
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	}
	report()
	go func() {
		for range time.Tick(time.Second) {
			report()
		}
	}()
	resp, err := http.Post(dirURL+"/v1/meetings", "application/json", bytes.NewReader([]byte(`{"host_account":"initech"}`)))
	if err != nil {
		log.Fatal(err)
	}
	var mt struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&mt)
	resp.Body.Close()
	resp, err = http.Post(auditURL+"/v1/meetings", "application/json", bytes.NewReader([]byte(`{"host_account":"initech"}`)))
	if err != nil {
		log.Fatal(err)
	}
	var amt struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&amt)
	resp.Body.Close()
	// A sample ticket, so the bare handler answers a body of the same size.
	resp, err = http.Post(dirURL+"/v1/meetings/"+mt.ID+"/join", "application/json", bytes.NewReader([]byte(`{"account":"acme"}`)))
	if err != nil {
		log.Fatal(err)
	}
	var sample bytes.Buffer
	sample.ReadFrom(resp.Body)
	resp.Body.Close()
	body := sample.Bytes()
	go http.Serve(bareLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	// The floor: a handler that only signs, with Ed25519, the sample ticket's signing input
	// (what every join must do) and answers the fixed body.
	var sampleTicket struct{ Token string }
	json.Unmarshal(body, &sampleTicket)
	signingInput := []byte(sampleTicket.Token[:strings.LastIndexByte(sampleTicket.Token, '.')])
	_, key, _ := ed25519.GenerateKey(nil)
	signLn, _ := net.Listen("tcp", "127.0.0.1:0")
	go http.Serve(signLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ed25519.Sign(key, signingInput)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	fmt.Printf("directory=%s\naudit=%s\naudit_meeting=%s\nbare=http://%s\nsignonly=http://%s\nmeeting=%s\nbody_bytes=%d\n",
		dirURL, auditURL, amt.ID, bareLn.Addr(), signLn.Addr(), mt.ID, len(body))
	<-ctx.Done()
}

// embeddedEtcd starts a one-member etcd on loopback with its data in a temporary folder and
// returns the directory's store on it.
func embeddedEtcd(ctx context.Context) directory.Store {
	dir, err := os.MkdirTemp("", "benchserver-etcd-")
	if err != nil {
		log.Fatal(err)
	}
	go func() { <-ctx.Done(); os.RemoveAll(dir) }()
	e, err := etcdembed.Start(etcdembed.Member{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdembed.ClientURL(e)}, Logger: zap.NewNop()})
	if err != nil {
		log.Fatal(err)
	}
	s, err := etcdstore.NewCached(ctx, cli, etcdstore.CacheConfig{})
	if err != nil {
		log.Fatal(err)
	}
	return s
}

// serveWithAudit serves a second directory on m whose core writes every decision to
// evidence logs in a temporary folder; closing it closes the logs and removes the folder.
func serveWithAudit(ctx context.Context, m *policy.Model, c *config.Config) (string, func(), error) {
	tmp, err := os.MkdirTemp("", "geofence-bench-evidence-")
	if err != nil {
		return "", nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	audit.QuietTessera(quiet)
	keys, err := audit.LoadOrCreateKeys(tmp)
	if err != nil {
		return "", nil, err
	}
	h, _ := audit.NewHasher(keys.Hash)
	logs, err := audit.Open(ctx, audit.Options{Dir: tmp, Regions: audit.RegionsOf(m), Key: keys.Signing, Logger: quiet})
	if err != nil {
		return "", nil, err
	}
	rec := audit.NewRecorder(logs, h)
	rep, _ := verify.Config(c, nil, verify.Options{})
	if err := rec.ConfigChanged(ctx, m, audit.Digest(examples.World), rep, time.Now()); err != nil {
		return "", nil, err
	}
	core, err := directory.New(directory.Config{Model: m, Logger: quiet, Decisions: rec})
	if err != nil {
		return "", nil, err
	}
	signer, err := ticket.NewSigner("geofence", nil, nil)
	if err != nil {
		return "", nil, err
	}
	dir, err := directoryhttp.New(directoryhttp.Config{
		Core: core, Signer: signer, GeoIP: usGeoIP{},
		Proxies:       clientip.Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		TrustLoopback: true, Logger: quiet, AuditDir: tmp,
	})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go httpserve.Serve(ctx, ln, dir.Handler(), httpserve.Options{Name: "directory"})
	return "http://" + ln.Addr().String(), func() {
		logs.Close(context.Background())
		os.RemoveAll(tmp)
	}, nil
}

package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/internal/etcdtest"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/verify"
	"github.com/geofence/geofence/wire"
	jose "github.com/go-jose/go-jose/v4"
)

// TestDirectoriesShareEtcd runs two `geofence directory --store etcd` processes on one real
// etcd cluster, as DESIGN.md section 9 deploys them: an account created through one is known
// to the other, a meeting created through one is joined through the other, and both tickets
// of a meeting name the same home at the same revision.
func TestDirectoriesShareEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	const adminToken = "an-operator-token-of-at-least-32-characters"
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(adminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every DC reports load with its credential; the DC ids come from the config.
	_, m, err := verify.File("../../examples/world.yaml", verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]string{}
	for _, d := range m.DCs {
		creds[d.ID] = "cred-" + d.ID
	}
	credFile := filepath.Join(t.TempDir(), "credentials.json")
	cj, _ := json.Marshal(creds)
	if err := os.WriteFile(credFile, cj, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", "../../examples/world.yaml", "--no-geoip", "--admin-token-file", tokenFile,
		"--credentials", credFile, "--listen", "127.0.0.1:0", "--store", "etcd", "--etcd", strings.Join(cluster.Endpoints(), ",")}
	a, b := startDirectory(t, args...), startDirectory(t, args...)

	pub, priv, _ := ed25519.GenerateKey(nil)
	acct := `{"plan":"pro","home_region":"na","keys":[{"kid":"k1","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}]}`
	if st := call(t, "PUT", a+"/v1/accounts/hooli", adminToken, acct, nil); st != 201 {
		t.Fatalf("create the account through directory A: %d", st)
	}
	var got wire.Account
	if st := call(t, "GET", b+"/v1/accounts/hooli", adminToken, "", &got); st != 200 || got.Plan != "pro" {
		t.Fatalf("read it through directory B: %d %+v", st, got)
	}
	// Load reports go to each directory (DC liveness is per directory until leases).
	for _, d := range []string{a, b} {
		for id, cred := range creds {
			if st := call(t, "PUT", d+"/v1/datacenters/"+id+"/load", cred, `{"participants":0,"healthy":true}`, nil); st != 204 {
				t.Fatalf("load report of %s: %d", id, st)
			}
		}
	}
	host, err := client.MintJoinToken(priv, "k1", "hooli", "h1", client.JoinTokenOptions{Host: true, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var mt wire.Meeting
	if st := call(t, "POST", a+"/v1/meetings", host, `{}`, &mt); st != 201 || mt.Region != "na" {
		t.Fatalf("create a meeting through A: %d %+v", st, mt)
	}
	// Join through B, then through A: the second join follows the home the first recorded.
	var tickets []wire.JoinResponse
	for i, d := range []string{b, a} {
		tok, err := client.MintJoinToken(priv, "k1", "hooli", fmt.Sprintf("p%d", i), client.JoinTokenOptions{TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var ans wire.JoinResponse
		if st := call(t, "POST", d+"/v1/meetings/"+mt.ID+"/join", tok, `{}`, &ans); st != 200 {
			t.Fatalf("join %d: %d", i, st)
		}
		tickets = append(tickets, ans)
	}
	// Each directory's key set verifies the other's tickets: DCs and key servers may fetch
	// keys from any directory.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var set jose.JSONWebKeySet
		call(t, "GET", a+ticket.JWKSPath, "", "", &set)
		v, err := ticket.NewVerifier(set, Issuer, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(tickets[0].Token); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("directory A's key set does not verify directory B's ticket: %v", err)
		}
	}
	if tickets[0].Home == "" || tickets[0].Home != tickets[1].Home {
		t.Fatalf("homes %q and %q: want the one home the first join recorded", tickets[0].Home, tickets[1].Home)
	}
	var seen wire.Meeting
	if st := call(t, "GET", b+"/v1/meetings/"+mt.ID, host, "", &seen); st != 200 || seen.Home != tickets[0].Home {
		t.Fatalf("read the meeting through B: %d %+v, want home %s", st, seen, tickets[0].Home)
	}
	if st := call(t, "DELETE", b+"/v1/meetings/"+mt.ID, host, "", nil); st != 204 {
		t.Fatalf("end the meeting through B: %d", st)
	}
	// A's copy of the store hears of the end through its watch: within moments, not at once.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st := call(t, "GET", a+"/v1/meetings/"+mt.ID, host, "", nil)
		if st == 404 {
			break
		}
		if st != 200 || time.Now().After(deadline) {
			t.Fatalf("read the ended meeting through A: %d, want 404 once A's copy caught up", st)
		}
	}
}

// TestConfigPush pushes configs to the store of two running directories: a clean change is
// served by both; a config that does not verify, or one that widens what users reach under
// --fail-on-widen, is refused by `geofence config push`.
func TestConfigPush(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	etcd := strings.Join(cluster.Endpoints(), ",")
	const adminToken = "an-operator-token-of-at-least-32-characters"
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(adminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", "../../examples/world.yaml", "--no-geoip", "--admin-token-file", tokenFile,
		"--listen", "127.0.0.1:0", "--store", "etcd", "--etcd", etcd}
	a, b := startDirectory(t, args...), startDirectory(t, args...)

	world, err := os.ReadFile("../../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Paris joins Europe's primaries: Europe's users newly reach a DC in France, a widening.
	paris := strings.Replace(string(world), "datacenters:\n", "datacenters:\n  fr-par:\n    country: FR\n    location: [48.85, 2.35]\n    capacity: 1000\n    services: [media]\n", 1)
	paris = strings.Replace(paris, "eu:\n      primary: [", "eu:\n      primary: [fr-par, ", 1)
	parisFile := filepath.Join(dir, "world-paris.yaml")
	if err := os.WriteFile(parisFile, []byte(paris), 0o644); err != nil {
		t.Fatal(err)
	}
	push := func(args ...string) (int, string) {
		code, out, errOut := run(append([]string{"config", "push"}, args...)...)
		return code, out + errOut
	}
	if code, out := push("../../examples/world.yaml", "--etcd", etcd); code != ExitOK {
		t.Fatalf("push the world: exit %d:\n%s", code, out)
	}
	if code, out := push(parisFile, "--etcd", etcd, "--fail-on-widen"); code != ExitFinding || !strings.Contains(out, "widens") {
		t.Fatalf("push a widening with --fail-on-widen: exit %d, want 1:\n%s", code, out)
	}
	if code, out := push("../../examples/april-2020.yaml", "--etcd", etcd); code != ExitFinding || !strings.Contains(out, "does not verify") {
		t.Fatalf("push the April world: exit %d, want 1:\n%s", code, out)
	}
	if code, out := push(parisFile, "--etcd", etcd); code != ExitOK {
		t.Fatalf("push Paris: exit %d:\n%s", code, out)
	}
	// Both directories serve it once their watch delivers it.
	for _, d := range []string{a, b} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var ans struct {
				Excluded []struct{ ID string } `json:"excluded"`
				Primary  []struct{ ID string } `json:"primary"`
			}
			call(t, "GET", d+"/v1/explain?country=FR", adminToken, "", &ans)
			known := false
			for _, x := range append(ans.Primary, ans.Excluded...) {
				known = known || x.ID == "fr-par"
			}
			if known {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("directory %s does not serve the pushed config", d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// run runs the geofence command line in process.
func run(args ...string) (int, string, string) {
	var o, e strings.Builder
	code := Main(context.Background(), args, Env{Stdout: &o, Stderr: &e})
	return code, o.String(), e.String()
}

// TestStoresAreLocations runs a directory on two etcd clusters, the global store and China's
// (the example world's stores): a meeting of China's region is written to China's etcd only,
// and one of North America to the global etcd only.
func TestStoresAreLocations(t *testing.T) {
	global, china := etcdtest.Start(t, 1), etcdtest.Start(t, 1)
	const adminToken = "an-operator-token-of-at-least-32-characters"
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(adminToken), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDirectory(t, "--config", "../../examples/world.yaml", "--no-geoip", "--admin-token-file", tokenFile,
		"--listen", "127.0.0.1:0", "--store", "etcd", "--etcd", strings.Join(global.Endpoints(), ","),
		"--store-etcd", "cn="+strings.Join(china.Endpoints(), ","))
	var cn, na wire.Meeting
	if st := call(t, "POST", d+"/v1/meetings", adminToken, `{"host_account":"tsinghua-media"}`, &cn); st != 201 || cn.Region != "cn" {
		t.Fatalf("China's meeting: %d %+v", st, cn)
	}
	if st := call(t, "POST", d+"/v1/meetings", adminToken, `{"host_account":"acme"}`, &na); st != 201 || na.Region != "na" {
		t.Fatalf("North America's meeting: %d %+v", st, na)
	}
	has := func(c *etcdtest.Cluster, id string) bool {
		resp, err := c.Client(t).Get(t.Context(), "/geofence/meetings/"+id)
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Kvs) == 1
	}
	if !has(china, cn.ID) || has(global, cn.ID) {
		t.Errorf("China's meeting: in China's etcd %v, in the global etcd %v; want only China's", has(china, cn.ID), has(global, cn.ID))
	}
	if !has(global, na.ID) || has(china, na.ID) {
		t.Errorf("North America's meeting: in the global etcd %v, in China's %v; want only the global", has(global, na.ID), has(china, na.ID))
	}
}

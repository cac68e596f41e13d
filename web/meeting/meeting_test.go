package meetingui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/internal/devstack/devstacktest"
	"github.com/geofence/geofence/sfu"

	"github.com/chromedp/chromedp"
	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/examples"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/internal/browsertest"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/internal/sharedtest"
	"github.com/geofence/geofence/verify"
	meetingui "github.com/geofence/geofence/web/meeting"
	"github.com/geofence/geofence/wire"
)

// Client addresses of MaxMind's GeoIP2 test database (/work/shared/geoip): the page plays
// one per participant with ?ip=, which the dev directory trusts from loopback.
const (
	ipGB = "81.2.69.142"
	ipUS = "216.160.83.57"
	ipCN = "175.16.199.7"
)

// report is what window.geofence.report() returns (src/app.js).
type report struct {
	Phase string `json:"phase"`
	Error *struct {
		Where   string   `json:"where"`
		Error   string   `json:"error"`
		Message string   `json:"message"`
		Rules   []string `json:"rules"`
	} `json:"error"`
	Self         string          `json:"self"`
	Home         string          `json:"home"`
	Datacenter   string          `json:"datacenter"`
	Bridged      *bool           `json:"bridged"`
	Epoch        *uint64         `json:"epoch"`
	E2EE         *e2eeState      `json:"e2ee"`
	Notices      []string        `json:"notices"`
	Withheld     []wire.Withheld `json:"withheld"`
	Participants []struct {
		Ref        string `json:"ref"`
		ID         string `json:"id"`
		Datacenter string `json:"datacenter"`
		Bridged    bool   `json:"bridged"`
	} `json:"participants"`
	Workers []struct {
		ID       string         `json:"id"`
		Side     string         `json:"side"`
		Codec    string         `json:"codec"`
		Frames   int            `json:"frames"`
		KID      string         `json:"kid"`
		Dropped  map[string]int `json:"dropped"`
		Failures map[string]int `json:"failures"`
	} `json:"workers"`
	WorkerErrors []string `json:"workerErrors"`
	Inbound      []struct {
		Kind                 string `json:"kind"`
		Participant          string `json:"participant"`
		Codec                string `json:"codec"`
		FramesDecoded        int    `json:"framesDecoded"`
		KeyFramesDecoded     int    `json:"keyFramesDecoded"`
		FrameWidth           int    `json:"frameWidth"`
		PacketsReceived      int    `json:"packetsReceived"`
		TotalSamplesReceived int    `json:"totalSamplesReceived"`
	} `json:"inbound"`
	Pairs        map[string]struct{ Local, Remote, State string } `json:"pairs"`
	FirstFrameMs *float64                                         `json:"firstFrameMs"`
}

func (r report) decoded(kind string) int {
	n := 0
	for _, in := range r.Inbound {
		if in.Kind == kind {
			if kind == "video" {
				n += in.FramesDecoded
			} else {
				n += in.TotalSamplesReceived
			}
		}
	}
	return n
}

func (r report) failures() int {
	n := 0
	for _, w := range r.Workers {
		for _, f := range w.Failures {
			n += f
		}
	}
	return n
}

// loopbackPairs says whether both PeerConnections selected a 127.0.0.1 pair on both ends.
func (r report) loopbackPairs() bool {
	for _, name := range []string{"publisher", "subscriber"} {
		p, ok := r.Pairs[name]
		if !ok || p.Local != "127.0.0.1" || p.Remote != "127.0.0.1" {
			return false
		}
	}
	return true
}

// stack runs the dev stack of examples/world.yaml with MaxMind's test database on loopback.
func stack(t testing.TB) *devstack.Stack {
	t.Helper()
	c, errs := config.Parse("world.yaml", examples.World)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, m := verify.Config(c, nil, verify.Options{})
	db, err := geoip.Open(sharedtest.Path(t, "geoip/GeoIP2-Country-Test.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var log *slog.Logger
	if path := os.Getenv("MEETING_STACK_LOG"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st := devstacktest.Start(t, devstack.Config{Model: m, GeoIP: db, Logger: log})
	// Wait for every agent's first load report: until then joins get 503.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := http.Get(st.URL + "/v1/datacenters")
		if err == nil {
			var dcs []struct {
				Healthy bool `json:"healthy"`
			}
			json.NewDecoder(r.Body).Decode(&dcs)
			r.Body.Close()
			healthy := 0
			for _, d := range dcs {
				if d.Healthy {
					healthy++
				}
			}
			if healthy >= len(st.AgentURLs) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the dev stack's agents did not report in time")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return st
}

func createMeeting(t *testing.T, st *devstack.Stack, account string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"host_account": account})
	r, err := http.Post(st.URL+"/v1/meetings", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var mt wire.Meeting
	if err := json.NewDecoder(r.Body).Decode(&mt); err != nil || r.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(r.Body)
		t.Fatalf("create meeting: %d %v %s", r.StatusCode, err, body)
	}
	return mt.ID
}

// browser starts one headless Chromium with fake devices and loopback-only WebRTC; each page
// is a tab of it.
func browser(t testing.TB) context.Context {
	t.Helper()
	bin := browsertest.Path(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 700),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("mute-audio", true),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// page opens the meeting page in a new tab of the browser.
func page(t *testing.T, bctx context.Context, url string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return ctx
}

func pageURL(base, meeting, participant, ip, dc string, extra ...string) string {
	u := fmt.Sprintf("%s%s?meeting=%s&account=acme&participant=%s&ip=%s&dc=%s", base, meetingui.PagePath, meeting, participant, ip, dc)
	for _, e := range extra {
		u += "&" + e
	}
	return u
}

func getReport(t *testing.T, ctx context.Context) report {
	t.Helper()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](`window.geofence ? window.geofence.report() : Promise.resolve({phase: "loading"})`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var r report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("report %s: %v", raw, err)
	}
	return r
}

// await polls the page's report until ok says it is done, failing t after timeout.
func await(t *testing.T, ctx context.Context, what string, timeout time.Duration, ok func(report) bool) report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := getReport(t, ctx)
		if ok(r) {
			return r
		}
		if r.Error != nil && r.Phase == "refused" {
			t.Fatalf("%s: the page was refused: %+v", what, *r.Error)
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(r, "", " ")
			t.Fatalf("%s: not in %v; last report:\n%s", what, timeout, b)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// awaitAll polls every page in turn until ok holds for all, failing t with every page's
// last report after timeout.
func awaitAll(t *testing.T, what string, timeout time.Duration, ok func(report) bool, pages map[string]context.Context) map[string]report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := map[string]report{}
	for {
		done := true
		for name, ctx := range pages {
			r := getReport(t, ctx)
			last[name] = r
			if r.Error != nil && r.Phase == "refused" {
				t.Fatalf("%s: %s was refused: %+v", what, name, *r.Error)
			}
			done = done && ok(r)
		}
		if done {
			return last
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(last, "", " ")
			t.Fatalf("%s: not in %v; last reports:\n%s", what, timeout, b)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func decoding(min int) func(report) bool {
	return func(r report) bool {
		return r.Phase == "joined" && r.decoded("video") >= min && r.decoded("audio") > 0 && r.loopbackPairs()
	}
}

// TestMeetingRefused: a page in China asks to join a North American meeting; the directory
// refuses it and the page says so, with the rule.
func TestMeetingRefused(t *testing.T) {
	st := stack(t)
	id := createMeeting(t, st, "acme")
	b := browser(t)
	p := page(t, b, pageURL(st.URL, id, "li", ipCN, ""))
	deadline := time.Now().Add(30 * time.Second)
	var r report
	for r = getReport(t, p); r.Phase != "refused"; r = getReport(t, p) {
		if time.Now().After(deadline) {
			t.Fatalf("the page was not refused: phase %q", r.Phase)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.Error == nil || r.Error.Where != "directory" || r.Error.Error != "residency_conflict" || !slices.Contains(r.Error.Rules, "china-stays-in-china") {
		t.Fatalf("refusal %+v, want the directory's residency_conflict naming china-stays-in-china", r.Error)
	}
	shown, err := chromedp.Run(p, chromedp.Evaluate[string](`document.getElementById('error').hidden ? '' : document.getElementById('error').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "residency_conflict") || !strings.Contains(shown, "china-stays-in-china") {
		t.Errorf("the page shows %q, want the code and the rule", shown)
	}
}

// TestMeetingTwoCountries: two pages, one in Great Britain at the meeting's home, one in the
// United States at another DC of its ticket, bridged to the home, in one managed meeting.
// Each decodes the other's VP8 and Opus, opened by its media worker with the key its page
// fetched from a key server, with no decrypt failure, over 127.0.0.1 on both ends of every
// PeerConnection. Then a third page joins and leaves: the key servers rotate the meeting, both
// pages switch to the new epoch and keep decoding without a failure.
func TestMeetingTwoCountries(t *testing.T) {
	st := stack(t)
	id := createMeeting(t, st, "acme")
	b := browser(t)

	alice := page(t, b, pageURL(st.URL, id, "alice", ipGB, "home"))
	ra := await(t, alice, "alice joins", 30*time.Second, func(r report) bool { return r.Phase == "joined" })
	// Bob's key pair is of the hybrid suite: the key servers wrap to ML-KEM-768 + X25519.
	bob := page(t, b, pageURL(st.URL, id, "bob", ipUS, "away", "suite=mlkem768x25519"))

	rs := awaitAll(t, "alice and bob decode each other", 90*time.Second, decoding(30), map[string]context.Context{"alice": alice, "bob": bob})
	ra, rb := rs["alice"], rs["bob"]
	t.Logf("alice on %s (bridged %v), bob on %s (bridged %v); pairs %v / %v", ra.Datacenter, *ra.Bridged, rb.Datacenter, *rb.Bridged, ra.Pairs, rb.Pairs)
	if rb.FirstFrameMs != nil {
		// docs/benchmarks.md: from opening the page to the first decrypted remote frame.
		t.Logf("bob, joining alice's meeting: first remote video frame decoded %.0f ms after the page opened", *rb.FirstFrameMs)
	}
	if *ra.Bridged || !*rb.Bridged || ra.Datacenter == rb.Datacenter {
		t.Errorf("alice on %s bridged %v, bob on %s bridged %v: want alice at the home, bob elsewhere through a bridge", ra.Datacenter, *ra.Bridged, rb.Datacenter, *rb.Bridged)
	}
	for name, r := range map[string]report{"alice": ra, "bob": rb} {
		if n := r.failures(); n != 0 || len(r.WorkerErrors) > 0 {
			t.Errorf("%s: %d decrypt failures, worker errors %v: %+v", name, n, r.WorkerErrors, r.Workers)
		}
	}
	if path := os.Getenv("MEETING_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(alice, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A page in the meeting without its key: packets arrive, nothing decodes, and its worker
	// counts every frame as under a key it does not have.
	eve := page(t, b, pageURL(st.URL, id, "eve", ipGB, "home", "key=none"))
	re := await(t, eve, "eve receives", 60*time.Second, func(r report) bool {
		pk := 0
		for _, in := range r.Inbound {
			pk += in.PacketsReceived
		}
		return r.Phase == "joined" && pk > 100 && r.failures() > 20
	})
	if n := re.decoded("video"); n != 0 {
		t.Errorf("eve, without the key, decoded %d video frames, want 0", n)
	}
	for _, w := range re.Workers {
		if w.Side == "receive" && w.Frames != 0 {
			t.Errorf("eve's worker opened %d frames without the key: %+v", w.Frames, w)
		}
	}

	// Re-key on leave: carol joins and leaves; the key servers rotate the meeting, alice and
	// bob switch to the next epoch and go on decoding each other without a failure.
	carol := page(t, b, pageURL(st.URL, id, "carol", ipGB, "home"))
	await(t, carol, "carol decodes", 60*time.Second, decoding(10))
	if err := chromedp.Do(carol, chromedp.Click(chromedp.ID("leave"))); err != nil {
		t.Fatal(err)
	}
	before := map[string]int{"alice": ra.decoded("video"), "bob": rb.decoded("video")}
	for name, ctx := range map[string]context.Context{"alice": alice, "bob": bob} {
		r := await(t, ctx, name+" re-keys", 60*time.Second, func(r report) bool {
			return r.Epoch != nil && *r.Epoch > *ra.Epoch && r.decoded("video") > before[name]+10
		})
		if n := r.failures(); n != 0 || len(r.WorkerErrors) > 0 {
			t.Errorf("%s after the re-key to epoch %d: %d decrypt failures, worker errors %v: %+v", name, *r.Epoch, n, r.WorkerErrors, r.Workers)
		}
		if !r.loopbackPairs() {
			t.Errorf("%s: pairs %v, want 127.0.0.1 on both ends", name, r.Pairs)
		}
	}
}

// TestMeetingGoaway: bob's DC drains; his page gets a goaway, joins again through another DC
// of its ticket with the same ticket and key, and alice and bob decode each other again.
func TestMeetingGoaway(t *testing.T) {
	moveOff(t, "is draining", func(s *sfu.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		s.Drain(ctx)
	})
}

// TestMeetingDCFails: bob's DC fails (its media server ends every connection at once, with no
// goaway); his page joins again through another DC of its ticket, and alice and bob decode
// each other again with no decrypt failure.
func TestMeetingDCFails(t *testing.T) {
	moveOff(t, "was lost", (*sfu.Server).Fail)
}

// moveOff: alice in Great Britain at the home and bob in the United States at another DC
// decode each other; end ends bob's DC; bob's page says so (a notice naming the DC and
// holding say), joins again through another DC of its ticket, and the two decode each other
// again, on 127.0.0.1, with no decrypt failure.
func moveOff(t *testing.T, say string, end func(*sfu.Server)) {
	st := stack(t)
	id := createMeeting(t, st, "acme")
	b := browser(t)
	alice := page(t, b, pageURL(st.URL, id, "alice", ipGB, "home"))
	bob := page(t, b, pageURL(st.URL, id, "bob", ipUS, "away"))
	rs := awaitAll(t, "alice and bob decode each other", 90*time.Second, decoding(10), map[string]context.Context{"alice": alice, "bob": bob})
	first := rs["bob"].Datacenter
	if first == rs["alice"].Datacenter {
		t.Fatalf("alice and bob both on %s: the test needs them apart", first)
	}
	end(st.Media[first])
	rb := await(t, bob, "bob moves on", 60*time.Second, func(r report) bool {
		return r.Phase == "joined" && r.Datacenter != "" && r.Datacenter != first && decoding(10)(r)
	})
	ra := await(t, alice, "alice decodes bob again", 60*time.Second, decodesVideoOf(rb.Self))
	t.Logf("bob moved from %s to %s (home %s, bridged %v); notices %q", first, rb.Datacenter, rb.Home, *rb.Bridged, rb.Notices)
	if allowedFor(t, st, id, true, "cn-pek") {
		t.Fatal("the residency check below allows Beijing for bob: it could not fail")
	}
	for who, r := range map[string]report{"alice in GB": ra, "bob in US": rb} {
		if !allowedFor(t, st, id, r.Self == rb.Self, r.Datacenter) {
			t.Errorf("%s is on %s, which the residency rules forbid it (I1)", who, r.Datacenter)
		}
	}
	if !slices.ContainsFunc(rb.Notices, func(n string) bool { return strings.Contains(n, first) && strings.Contains(n, say) }) {
		t.Errorf("bob's notices %q do not say %s %s", rb.Notices, first, say)
	}
	for name, r := range map[string]report{"alice": ra, "bob": rb} {
		if n := r.failures(); n != 0 {
			t.Errorf("%s: %d decrypt failures", name, n)
		}
		if !r.loopbackPairs() {
			t.Errorf("%s: pairs %v, want 127.0.0.1 on both ends", name, r.Pairs)
		}
	}
}

// decodesVideoOf is true of a report whose page has decoded more than 10 video frames of the
// participant whose Ref is ref.
func decodesVideoOf(ref string) func(report) bool {
	return func(r report) bool {
		for _, in := range r.Inbound {
			if in.Kind == "video" && in.FramesDecoded > 10 && in.Participant != "" && in.Participant == ref {
				return true
			}
		}
		return false
	}
}

// allowedFor reports whether the rules allow DC dc to carry the media of a page of moveOff in
// meeting id (bob in the United States when us, else alice in Great Britain, both of acme):
// the participant's region and plan and the meeting's region and host plan (I1).
func allowedFor(t *testing.T, st *devstack.Stack, id string, us bool, dc string) bool {
	t.Helper()
	m := st.Core.Model()
	rec, err := st.Core.Meeting(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	country, _ := geo.LookupCountry("GB")
	if us {
		country, _ = geo.LookupCountry("US")
	}
	d, okDC := m.DC(dc)
	mr, okReg := m.Region(rec.Region)
	acct, host := m.Accounts["acme"], m.Accounts[rec.HostAccount]
	if !okDC || !okReg || acct == nil || host == nil {
		t.Fatalf("DC %q, region %q or accounts acme and %q not in the model", dc, rec.Region, rec.HostAccount)
	}
	return m.Allows(m.RegionOf(country), acct.Plan, d) && m.Allows(mr, host.Plan, d)
}

package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/devstack/devstacktest"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/internal/browsertest"
	"github.com/geofence/geofence/internal/cli"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/wire"
)

var update = flag.Bool("update", false, "rewrite docs/img/dashboard.png with the dashboard's screenshot")

// placeGeoIP places 175.16.199.1 in China and every other address in the United States.
type placeGeoIP struct{}

func (placeGeoIP) Lookup(a netip.Addr) (geoip.Result, error) {
	if a.Unmap() == netip.MustParseAddr("175.16.199.1") {
		return geoip.Result{Country: "CN", Found: true}, nil
	}
	return geoip.Result{Country: "US", Found: true}, nil
}

// naturalEarth1 is d3-geo's geoNaturalEarth1 raw projection (Šavrič et al. 2015), written
// again here so that the test checks the page's placement against the formula, not against
// the page's own code.
func naturalEarth1(lon, lat float64) (x, y float64) {
	l, p := lon*math.Pi/180, lat*math.Pi/180
	p2 := p * p
	p4 := p2 * p2
	x = l * (0.8707 - 0.131979*p2 + p4*(-0.013791+p4*(0.003971*p2-0.001529*p4)))
	y = p * (1.007226 + p2*(0.015085+p4*(-0.044475+0.028874*p2-0.005916*p4)))
	return x, y
}

func putJSON(t *testing.T, method, url string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBrowser opens the dashboard of an in-process `geofence dev` stack in headless
// Chromium and checks what an operator looks at: every DC of the config on the map where its
// location projects, inside its country's shape; bridges drawn; a DC failed through the API
// turning red; a refusal in the explorer; the what-if answer equal to `geofence explain
// --json`; who is refused or spilled; a simulator run with its plots; and no request leaving
// the directory.
func TestBrowser(t *testing.T) {
	bin := browsertest.Path(t)
	m := world(t)
	st := devstacktest.Start(t, devstack.Config{Model: m, NoAgents: true, GeoIP: placeGeoIP{}})
	for i, dc := range m.DCs {
		load := map[string]any{"participants": dc.Capacity * int64(i%5) / 5, "healthy": true}
		if dc.ID == "eu-fra" {
			load["media"] = wire.MediaLoad{Sessions: 40, Meetings: 4, TracksIn: 60, TracksOut: 180, BitsInPerSecond: 48e6, BitsOutPerSecond: 140e6,
				Bridges: []wire.BridgeLoad{{Datacenter: "us-iad", Direction: "out", Meetings: 2, TracksIn: 6, TracksOut: 8}}}
		}
		if s := putJSON(t, "PUT", st.URL+"/v1/datacenters/"+dc.ID+"/load", load); s != http.StatusNoContent {
			t.Fatalf("load report %s: %d", dc.ID, s)
		}
	}

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1500),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-default-apps", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("mute-audio", true))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	// Every request the page makes, from the browser's own network events.
	var (
		mu   sync.Mutex
		urls []string
	)
	reqs := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range reqs {
			if err != nil {
				return
			}
			mu.Lock()
			urls = append(urls, ev.Request.URL)
			mu.Unlock()
		}
	}()
	wait := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(st.URL+"/ui/")); err != nil {
		t.Fatal(err)
	}
	wait("every DC on the map", fmt.Sprintf(`document.querySelectorAll("circle.dc").length === %d && document.body.dataset.ready === "1"`, len(m.DCs)))

	// Placement: the circle of each DC is where the projection puts its configured location,
	// and inside (or within 3 px of) the shape of its country; a few coastal cities fall in
	// the water of the 1:50m shapes (Hong Kong's location is on Victoria Harbour), and must
	// then be within the bounding box of their country's shape.
	type placed struct {
		ID      string  `json:"id"`
		CX      float64 `json:"cx"`
		CY      float64 `json:"cy"`
		Shape   bool    `json:"shape"`
		Inside  bool    `json:"inside"`
		Box     bool    `json:"box"`
		Scale   float64 `json:"scale"`
		TX      float64 `json:"tx"`
		TY      float64 `json:"ty"`
		Fill    string  `json:"fill"`
		Country string  `json:"country"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]placed](`(() => {
		const m = document.getElementById("map").dataset;
		return [...document.querySelectorAll("circle.dc")].map((c) => {
			const x = +c.getAttribute("cx"), y = +c.getAttribute("cy");
			const p = document.querySelector('#countries path[data-cc="' + c.dataset.country + '"]');
			let inside = false;
			let box = false;
			if (p) {
				for (const [dx, dy] of [[0,0],[3,0],[-3,0],[0,3],[0,-3],[2,2],[-2,-2],[2,-2],[-2,2]]) inside ||= p.isPointInFill(new DOMPoint(x + dx, y + dy));
				const b = p.getBBox();
				box = x >= b.x - 3 && x <= b.x + b.width + 3 && y >= b.y - 3 && y <= b.y + b.height + 3;
			}
			return {id: c.dataset.dc, cx: x, cy: y, shape: !!p, inside, box, scale: +m.scale, tx: +m.tx, ty: +m.ty, fill: c.getAttribute("fill"), country: c.dataset.country};
		});
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]placed{}
	for _, p := range got {
		byID[p.ID] = p
	}
	for _, dc := range m.DCs {
		p, ok := byID[dc.ID]
		if !ok {
			t.Errorf("%s is not on the map", dc.ID)
			continue
		}
		x, y := naturalEarth1(dc.Location.Lon, dc.Location.Lat)
		wx, wy := p.TX+x*p.Scale, p.TY-y*p.Scale
		if math.Hypot(p.CX-wx, p.CY-wy) > 0.5 {
			t.Errorf("%s at (%.2f, %.2f), want (%.2f, %.2f): the projection of %v", dc.ID, p.CX, p.CY, wx, wy, dc.Location)
		}
		switch {
		case !p.Shape:
			t.Errorf("%s: the map has no shape for its country %s", dc.ID, p.Country)
		case !p.Inside && !p.Box:
			t.Errorf("%s at (%.1f, %.1f) is outside the shape of %s and its bounding box", dc.ID, p.CX, p.CY, p.Country)
		case !p.Inside:
			t.Logf("%s at (%.1f, %.1f) is in the water of the 1:50m shape of %s, within its bounding box", dc.ID, p.CX, p.CY, p.Country)
		}
	}
	wait("the bridge eu-fra → us-iad", `!!document.querySelector('path.bridge[data-from="eu-fra"][data-to="us-iad"]')`)
	wait("the region shading", `document.querySelector('#countries path[data-cc="CN"]').dataset.region === "cn"`)

	// A DC failed through the dev fault API turns red, pushed by the stream (the page never
	// polls).
	if byID["eu-ams"].Fill == "#f85149" {
		t.Fatal("eu-ams is red before it failed")
	}
	if s := putJSON(t, "POST", st.URL+"/v1/dev/datacenters/eu-ams/fault", map[string]string{"mode": "down"}); s != http.StatusOK {
		t.Fatalf("fail eu-ams: %d", s)
	}
	wait("eu-ams red", `(() => { const c = document.querySelector('circle.dc[data-dc="eu-ams"]'); return !!c && c.classList.contains("down") && c.getAttribute("fill") === "#f85149"; })()`)
	wait("the dc_down alert tile", `!!document.querySelector('#alerts .tile[data-kind="dc_down"]')`)

	// A refusal appears in the explorer: a participant in China joining a meeting of acme's
	// (home region na), which its rules forbid.
	var mt wire.Meeting
	b, _ := json.Marshal(wire.CreateMeeting{HostAccount: "acme"})
	resp, err := http.Post(st.URL+"/v1/meetings", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&mt)
	resp.Body.Close()
	req, _ := http.NewRequest("POST", st.URL+"/v1/meetings/"+mt.ID+"/join", strings.NewReader(`{"account":"acme"}`))
	req.Header.Set("X-Forwarded-For", "175.16.199.1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("join from CN: %d, want 403", resp.StatusCode)
	}
	wait("the refusal in the explorer", `[...document.querySelectorAll("#refusals tbody tr")].some((tr) => tr.cells[1].textContent === "residency_conflict" && tr.cells[3].textContent === "CN")`)

	// A screenshot for the README, with a DC down and a refusal in the explorer.
	if *update {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../docs/img/dashboard.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Its explanation, from the explorer's link, is `geofence explain --directory --json`.
	explainJSON := func() any {
		t.Helper()
		wait("an explanation", `document.getElementById("explain-json").textContent.length > 0`)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("explain-json").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("the page's answer %q: %v", s, err)
		}
		return v
	}
	cliJSON := func(args ...string) any {
		t.Helper()
		var out, errb bytes.Buffer
		cli.Main(context.Background(), append([]string{"explain", "--directory", st.URL, "--json"}, args...), cli.Env{Stdout: &out, Stderr: &errb})
		var v any
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatalf("geofence explain %v: %v\n%s", args, err, errb.String())
		}
		return v
	}
	clear := `document.getElementById("explain-json").textContent = ""`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](clear+`; document.querySelector("#refusals tbody tr .explain-link").click()`)); err != nil {
		t.Fatal(err)
	}
	page := explainJSON()
	want := cliJSON("--country", "CN", "--plan", "enterprise", "--meeting-region", "na", "--host-plan", "enterprise")
	if !reflect.DeepEqual(page, want) {
		t.Errorf("the explorer's explanation:\n%v\nwant geofence explain's:\n%v", page, want)
	}
	if r, _ := page.(map[string]any)["refusal"].(map[string]any); r["error"] != wire.CodeResidencyConflict {
		t.Errorf("the explanation's refusal: %v, want residency_conflict", r)
	}

	// The what-if form: a country, a plan and a DC marked down.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](clear+`;
		(() => { const f = document.getElementById("wform");
		f.country.value = "DE"; f.plan.value = "pro"; f.account.value = ""; f.meeting_region.value = ""; f.host_plan.value = ""; f.load.value = "";
		for (const c of f.querySelectorAll("[name=down]")) c.checked = c.value === "eu-fra";
		document.getElementById("explain-btn").click(); })()`)); err != nil {
		t.Fatal(err)
	}
	page = explainJSON()
	want = cliJSON("--country", "DE", "--plan", "pro", "--down", "eu-fra")
	if !reflect.DeepEqual(page, want) {
		t.Errorf("the what-if answer:\n%v\nwant geofence explain's:\n%v", page, want)
	}

	// Who is refused or spilled with eu-fra down (still checked in the form) and eu-ams down
	// (it failed): Europe's participants spill out of their region.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.getElementById("impact-btn").click()`)); err != nil {
		t.Fatal(err)
	}
	wait("the impact table", `[...document.querySelectorAll("#impact-table tr")].some((tr) => tr.cells[0].textContent === "eu" && (tr.className === "spilled" || tr.className === "refused"))`)

	// The simulator, on a short scenario typed in place of the proposed one.
	wait("the proposed scenario", `document.getElementById("scenario").value.startsWith("# The next")`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`document.getElementById("scenario").value = "version: 1\nduration: 20m\nregions:\n  eu: {joins: 20000}\n  na: {joins: 40000}\n";
		document.getElementById("sim-btn").click()`)); err != nil {
		t.Fatal(err)
	}
	wait("the simulator's plots", `document.querySelectorAll("#sim-out svg[data-plot]").length === 3`)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("sim-status").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "eu-ams") || !strings.Contains(status, "0 residency violations") {
		t.Errorf("simulator status %q, want eu-ams down for the run and no violation", status)
	}

	// Nothing left loopback: every request the page made went to the directory.
	mu.Lock()
	defer mu.Unlock()
	if len(urls) < 4 {
		t.Errorf("only %d requests seen: %v", len(urls), urls)
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, st.URL+"/") {
			t.Errorf("the page requested %s, which is not the directory", u)
		}
	}
}

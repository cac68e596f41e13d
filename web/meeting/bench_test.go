package meetingui_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkChromiumSFrame runs bench/paired.js in a worker of headless Chromium: SFrame seal
// and open per frame next to raw WebCrypto AES-256-GCM on the same bytes (a new nonce buffer
// per call, and one reused), alternating, and reports the medians and their ratios (raw time
// / SFrame time of the batches of one round, median over rounds; 1 is no overhead). One run
// of SFRAME_BENCH_FRAMES frames (default 20000) per measurement, whatever b.N:
//
//	go test -run '^$' -bench ChromiumSFrame ./web/meeting/
func BenchmarkChromiumSFrame(b *testing.B) {
	frames := benchFrames()
	type stat struct {
		Raw, RawReused, Sframe float64
		Ratio                  struct{ Raw, RawReused float64 }
	}
	var res struct {
		Rows []struct {
			Name     string
			Enc, Dec stat
		}
	}
	ua := runBenchPage(b, frames, false, &res)
	b.Logf("%s, %d frames per measurement, medians (µs): raw encrypt / reused buffers, seal, ratios; raw decrypt / reused, open, ratios", ua, frames)
	for i, r := range res.Rows {
		b.Logf("| %s | %.2f / %.2f | %.2f | %.2f / %.2f | %.2f / %.2f | %.2f | %.2f / %.2f |", r.Name,
			r.Enc.Raw/1000, r.Enc.RawReused/1000, r.Enc.Sframe/1000, r.Enc.Ratio.Raw, r.Enc.Ratio.RawReused,
			r.Dec.Raw/1000, r.Dec.RawReused/1000, r.Dec.Sframe/1000, r.Dec.Ratio.Raw, r.Dec.Ratio.RawReused)
		b.ReportMetric(r.Enc.Ratio.Raw, "seal-ratio-"+strconv.Itoa(i))
		b.ReportMetric(r.Dec.Ratio.Raw, "open-ratio-"+strconv.Itoa(i))
		b.ReportMetric(r.Enc.Ratio.RawReused, "seal-ratio-reused-"+strconv.Itoa(i))
		b.ReportMetric(r.Dec.Ratio.RawReused, "open-ratio-reused-"+strconv.Itoa(i))
	}
}

// BenchmarkChromiumSFrameParts runs bench/paired.js's measureParts in a worker of headless
// Chromium: one VP8 delta frame's cost split into the raw call (fresh or reused nonce
// buffers), the raw call plus the framing of its output, and SFrame's seal and open,
// alternating, medians in µs:
//
//	go test -run '^$' -bench ChromiumSFrameParts ./web/meeting/
func BenchmarkChromiumSFrameParts(b *testing.B) {
	frames := benchFrames()
	var res struct{ Parts map[string]float64 }
	ua := runBenchPage(b, frames, true, &res)
	b.Logf("%s, %d frames per measurement, medians (µs):", ua, frames)
	names := make([]string, 0, len(res.Parts))
	for name := range res.Parts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b.Logf("| %s | %.2f |", name, res.Parts[name]/1000)
	}
}

// benchFrames is SFRAME_BENCH_FRAMES, default 20000.
func benchFrames() int {
	if v, err := strconv.Atoi(os.Getenv("SFRAME_BENCH_FRAMES")); err == nil && v > 0 {
		return v
	}
	return 20000
}

// runBenchPage serves this directory on loopback, opens bench/chromium.html in headless
// Chromium, waits for its worker's result, decodes it into res and returns the user agent.
func runBenchPage(b *testing.B, frames int, parts bool, res any) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(".")), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := browser(b)
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	url := "http://" + ln.Addr().String() + "/bench/chromium.html?frames=" + strconv.Itoa(frames)
	if parts {
		url += "&parts=1"
	}
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		raw, err := chromedp.Run(tab, chromedp.Evaluate[json.RawMessage](`window.benchResult ?? null`))
		if err != nil {
			b.Fatal(err)
		}
		if string(raw) != "null" {
			var e struct{ Error string }
			if err := json.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
			if e.Error != "" {
				b.Fatal(e.Error)
			}
			if err := json.Unmarshal(raw, res); err != nil {
				b.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the benchmark page did not finish")
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.StopTimer()
	ua, _ := chromedp.Run(tab, chromedp.Evaluate[string](`navigator.userAgent`))
	return ua
}

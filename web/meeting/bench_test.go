package meetingui_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkChromiumSFrame runs bench/paired.js in a worker of headless Chromium: SFrame seal
// and open per frame next to raw WebCrypto AES-256-GCM on the same bytes (a new nonce buffer
// per call, and one reused), alternating, and reports the medians and their ratios (raw time
// / SFrame time; 1 is no overhead). One run
// of SFRAME_BENCH_FRAMES frames (default 20000) per measurement, whatever b.N:
//
//	go test -run '^$' -bench ChromiumSFrame ./web/meeting/
func BenchmarkChromiumSFrame(b *testing.B) {
	frames := 20000
	if v, err := strconv.Atoi(os.Getenv("SFRAME_BENCH_FRAMES")); err == nil && v > 0 {
		frames = v
	}
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
	if err := chromedp.Do(tab, chromedp.Navigate("http://"+ln.Addr().String()+"/bench/chromium.html?frames="+strconv.Itoa(frames))); err != nil {
		b.Fatal(err)
	}
	type stat struct{ Raw, RawReused, Sframe float64 }
	var res struct {
		Rows []struct {
			Name     string
			Enc, Dec stat
		}
		Error string
	}
	b.ResetTimer()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		raw, err := chromedp.Run(tab, chromedp.Evaluate[json.RawMessage](`window.benchResult ?? null`))
		if err != nil {
			b.Fatal(err)
		}
		if string(raw) != "null" {
			if err := json.Unmarshal(raw, &res); err != nil {
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
	if res.Error != "" {
		b.Fatal(res.Error)
	}
	ua, _ := chromedp.Run(tab, chromedp.Evaluate[string](`navigator.userAgent`))
	b.Logf("%s, %d frames per measurement, medians (µs): raw encrypt / reused buffers, seal, ratios; raw decrypt / reused, open, ratios", ua, frames)
	for i, r := range res.Rows {
		b.Logf("| %s | %.2f / %.2f | %.2f | %.2f / %.2f | %.2f / %.2f | %.2f | %.2f / %.2f |", r.Name,
			r.Enc.Raw/1000, r.Enc.RawReused/1000, r.Enc.Sframe/1000, r.Enc.Raw/r.Enc.Sframe, r.Enc.RawReused/r.Enc.Sframe,
			r.Dec.Raw/1000, r.Dec.RawReused/1000, r.Dec.Sframe/1000, r.Dec.Raw/r.Dec.Sframe, r.Dec.RawReused/r.Dec.Sframe)
		b.ReportMetric(r.Enc.Raw/r.Enc.Sframe, "seal-ratio-"+strconv.Itoa(i))
		b.ReportMetric(r.Dec.Raw/r.Dec.Sframe, "open-ratio-"+strconv.Itoa(i))
		b.ReportMetric(r.Enc.RawReused/r.Enc.Sframe, "seal-ratio-reused-"+strconv.Itoa(i))
		b.ReportMetric(r.Dec.RawReused/r.Dec.Sframe, "open-ratio-reused-"+strconv.Itoa(i))
	}
	_ = context.Background
}

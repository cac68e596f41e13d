package meetingui

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/internal/browsertest"
)

// browserResult is what testdata/browser/index.html reports.
type browserResult struct {
	Error string `json:"error"`
	Video struct {
		FramesDecoded    int    `json:"framesDecoded"`
		KeyFramesDecoded int    `json:"keyFramesDecoded"`
		FrameWidth       int    `json:"frameWidth"`
		Codec            string `json:"codec"`
	} `json:"video"`
	Audio struct {
		PacketsReceived      int    `json:"packetsReceived"`
		TotalSamplesReceived int    `json:"totalSamplesReceived"`
		Codec                string `json:"codec"`
	} `json:"audio"`
	Pair *struct {
		Local  string `json:"local"`
		Remote string `json:"remote"`
	} `json:"pair"`
	Workers struct {
		Alice []workerStats `json:"alice"`
		Bob   []workerStats `json:"bob"`
	} `json:"workers"`
	Errors     []string `json:"errors"`
	Candidates []string `json:"candidates"`
	ICE        string   `json:"ice"`
}

type workerStats struct {
	ID       string         `json:"id"`
	Side     string         `json:"side"`
	Codec    string         `json:"codec"`
	Frames   int            `json:"frames"`
	Dropped  map[string]int `json:"dropped"`
	Failures map[string]int `json:"failures"`
	Last     any            `json:"lastFailure"`
}

// runBrowser serves the test page and the embedded bundle on loopback, opens the page in
// headless Chromium with query, and returns what the page reports.
func runBrowser(t *testing.T, query string) browserResult {
	t.Helper()
	bin := browsertest.Path(t)
	results := make(chan []byte, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/browser/index.html")
	})
	for _, name := range []string{PageScript, WorkerScript} {
		mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) {
			b, err := fs.ReadFile(FS(), name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = w.Write(b)
		})
	}
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		select {
		case results <- b:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Headless, off the network (as internal/browsertest), WebRTC on loopback only.
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio",
		"--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
		"--autoplay-policy=no-user-gesture-required",
		"--user-data-dir="+t.TempDir(),
		"http://"+ln.Addr().String()+"/?"+query)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
	}()
	var b []byte
	select {
	case b = <-results:
	case err := <-exited:
		t.Fatalf("chromium exited before the page reported: %v\n%s", err, stderr.String())
	case <-ctx.Done():
		t.Fatalf("the page reported nothing in time\n%s", stderr.String())
	}
	var res browserResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("page result %s: %v", b, err)
	}
	if res.Error != "" {
		t.Fatalf("the page failed: %s", res.Error)
	}
	return res
}

// localAddrs returns this machine's own IP addresses, the only ones the page lets WebRTC use.
func localAddrs(t *testing.T) map[string]bool {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
			out[n.IP.String()] = true
		}
	}
	return out
}

func localQuery(t *testing.T) string {
	var l []string
	for a := range localAddrs(t) {
		l = append(l, a)
	}
	return "&local=" + strings.Join(l, ",")
}

func workerFor(ws []workerStats, side, codec string) workerStats {
	for _, w := range ws {
		if w.Side == side && w.Codec == codec {
			return w
		}
	}
	return workerStats{}
}

// TestChromium sends VP8 and Opus through the media worker in a real Chromium, over a
// PeerConnection between two of its own addresses: with the prefix the profile keeps in clear, Chromium packetizes, depacketizes
// and decodes the frames, and the receiving worker opens every one.
func TestChromium(t *testing.T) {
	key := hex.EncodeToString(e2ee.NewMeetingKey())
	res := runBrowser(t, "key="+key+"&frames=30&budget=30000"+localQuery(t))
	t.Logf("video %+v, audio %+v, pair %+v, ICE %s, candidates %q", res.Video, res.Audio, res.Pair, res.ICE, res.Candidates)
	if len(res.Errors) > 0 {
		t.Errorf("worker errors: %v", res.Errors)
	}
	// Chromium gathers no loopback candidates while the machine has another interface: the
	// call runs on this machine's own address, never another machine's.
	if own := localAddrs(t); res.Pair == nil || !own[res.Pair.Local] || !own[res.Pair.Remote] {
		t.Errorf("selected candidate pair %+v, want this machine's addresses on both ends", res.Pair)
	}
	if res.Video.Codec != "video/VP8" || res.Video.FramesDecoded < 30 || res.Video.KeyFramesDecoded < 1 || res.Video.FrameWidth != 320 {
		t.Errorf("video: %+v, want VP8 with 30 frames decoded, a key frame among them, 320 wide", res.Video)
	}
	if res.Audio.Codec != "audio/opus" || res.Audio.TotalSamplesReceived == 0 {
		t.Errorf("audio: %+v, want Opus samples received", res.Audio)
	}
	for _, c := range []string{"vp8", "opus"} {
		tx, rx := workerFor(res.Workers.Alice, "send", c), workerFor(res.Workers.Bob, "receive", c)
		if tx.Frames == 0 || rx.Frames == 0 {
			t.Errorf("%s: the workers sealed %d and opened %d frames, want some of each", c, tx.Frames, rx.Frames)
		}
		for k, n := range rx.Failures {
			if n != 0 {
				t.Errorf("%s: the receiving worker counted %d %s failures (last: %v)", c, n, k, rx.Last)
			}
		}
	}
}

// TestChromiumWrongKey gives the receiver another key: nothing decodes and the receiving
// worker counts authentication failures.
func TestChromiumWrongKey(t *testing.T) {
	res := runBrowser(t, "key="+hex.EncodeToString(e2ee.NewMeetingKey())+"&bobkey="+hex.EncodeToString(e2ee.NewMeetingKey())+"&frames=1000000&budget=4000"+localQuery(t))
	if res.Video.FramesDecoded != 0 {
		t.Errorf("video: %d frames decoded under the wrong key, want 0", res.Video.FramesDecoded)
	}
	rx := workerFor(res.Workers.Bob, "receive", "vp8")
	if rx.Frames != 0 || rx.Failures["auth"] == 0 {
		t.Errorf("receiving worker: %+v, want no frames opened and authentication failures counted", rx)
	}
}

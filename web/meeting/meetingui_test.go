package meetingui

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/mediaprofile"
	"github.com/geofence/geofence/crypto/sframe"
)

// node returns the path of node, skipping t when it is not installed.
func node(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("skipping: node is not installed (Debian packages nodejs and npm); the browser client's JavaScript is tested with it")
	}
	return p
}

func runNode(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, node(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %v: %v\n%s%s", args, err, out, stderr.Bytes())
	}
	return out
}

func TestFS(t *testing.T) {
	for _, name := range []string{Page, AppScript, WorkerScript} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
}

// TestBundleCurrent rebuilds the bundle with the pinned esbuild into a temporary directory and
// compares it with the committed dist/.
func TestBundleCurrent(t *testing.T) {
	node(t)
	if _, err := os.Stat(filepath.Join("node_modules", "esbuild", "package.json")); err != nil {
		// CI installs the pinned dependencies (npm ci) and must check; a newcomer's first
		// `go test ./...` need not have.
		if os.Getenv("CI") == "" {
			t.Skip("web/meeting/node_modules has no esbuild: run `npm ci` in web/meeting (or scripts/build-web.sh) to check the committed bundle")
		}
		t.Fatal("web/meeting/node_modules has no esbuild: run `npm ci` in web/meeting first")
	}
	tmp := t.TempDir()
	runNode(t, nil, "build.mjs", tmp)
	want, err := filepath.Glob(filepath.Join(tmp, "*"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := filepath.Glob(filepath.Join("dist", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("dist has %d files, the build makes %d: run scripts/build-web.sh and commit dist", len(got), len(want))
	}
	for _, w := range want {
		name := filepath.Base(w)
		built, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("dist", name))
		if err != nil {
			t.Fatalf("%v: run scripts/build-web.sh and commit dist", err)
		}
		if !bytes.Equal(built, committed) {
			t.Errorf("dist/%s is not what src/ builds to: run scripts/build-web.sh and commit dist", name)
		}
	}
}

// TestNodeTests runs the JavaScript tests (node --test), which read the RFC vectors from
// ../shared/vectors and the profile vectors from crypto/mediaprofile/testdata.
func TestNodeTests(t *testing.T) {
	node(t)
	files, err := filepath.Glob(filepath.Join("test", "*.test.js"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no JavaScript tests found (%v)", err)
	}
	runNode(t, nil, append([]string{"--test"}, files...)...)
}

type interopEpoch struct {
	Epoch string `json:"epoch"`
	Key   string `json:"key"`
}

type interopFrame struct {
	Codec     string `json:"codec"`
	Wire      string `json:"wire,omitempty"`
	Plaintext string `json:"plaintext,omitempty"`
	Epoch     string `json:"epoch,omitempty"`
	Sender    int    `json:"sender"`
	Ratchet   int    `json:"ratchet,omitempty"`
}

type interopRequest struct {
	Op     string         `json:"op"`
	Suite  uint16         `json:"suite"`
	Epochs []interopEpoch `json:"epochs"`
	Frames []interopFrame `json:"frames"`
}

type interopResult struct {
	Plaintext *string `json:"plaintext"`
	Wire      *string `json:"wire"`
	Error     string  `json:"error"`
}

func interop(t *testing.T, req interopRequest) []interopResult {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var ans struct{ Results []interopResult }
	if err := json.Unmarshal(runNode(t, body, filepath.Join("test", "interop.mjs")), &ans); err != nil {
		t.Fatal(err)
	}
	if len(ans.Results) != len(req.Frames) {
		t.Fatalf("node answered %d results for %d frames", len(ans.Results), len(req.Frames))
	}
	return ans.Results
}

func frames() []struct {
	codec mediaprofile.Codec
	frame []byte
} {
	fill := func(n int, first byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 13)
		}
		if n > 0 {
			b[0] = first
		}
		return b
	}
	return []struct {
		codec mediaprofile.Codec
		frame []byte
	}{
		{mediaprofile.CodecVP8, fill(1200, 0x50)}, // key frame
		{mediaprofile.CodecVP8, fill(1200, 0x31)}, // delta frame
		{mediaprofile.CodecVP8, fill(3, 0x31)},
		{mediaprofile.CodecOpus, fill(100, 0xfc)},
		{mediaprofile.CodecOpus, fill(1, 0xfc)},
		{mediaprofile.CodecNone, fill(64, 7)},
		{mediaprofile.CodecNone, nil},
	}
}

var interopSuites = []sframe.Suite{sframe.AES_256_GCM_SHA512_128, sframe.AES_128_GCM_SHA256_128, sframe.AES_128_CTR_HMAC_SHA256_80}

func epochKeys(t *testing.T, epochs ...uint64) ([]e2ee.EpochKey, []interopEpoch) {
	var ks []e2ee.EpochKey
	var js []interopEpoch
	for _, e := range epochs {
		raw := e2ee.NewMeetingKey()
		k, err := e2ee.NewEpochKey(e, raw)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
		js = append(js, interopEpoch{strconv.FormatUint(e, 10), hex.EncodeToString(raw)})
	}
	return ks, js
}

// TestInteropGoSealsJSOpens seals frames in Go, two sessions, a ratchet step and a re-key
// among them, plus altered ones, and has JavaScript open them.
func TestInteropGoSealsJSOpens(t *testing.T) {
	node(t)
	for _, suite := range interopSuites {
		t.Run(suite.String(), func(t *testing.T) {
			cfg := mediaprofile.Config{Suite: suite}
			keys, js := epochKeys(t, 1, 2)
			a, err := mediaprofile.NewSender(keys[0], cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := mediaprofile.NewSender(keys[0], cfg) // the same participant, rejoined
			if err != nil {
				t.Fatal(err)
			}
			req := interopRequest{Op: "open", Suite: uint16(suite), Epochs: js}
			var want []string // plaintext hex, or a JavaScript error name
			add := func(s *mediaprofile.Sender, c mediaprofile.Codec, f []byte) []byte {
				w, err := s.Seal(nil, c, f)
				if err != nil {
					t.Fatal(err)
				}
				req.Frames = append(req.Frames, interopFrame{Codec: c.String(), Wire: hex.EncodeToString(w)})
				want = append(want, hex.EncodeToString(f))
				return w
			}
			for i, f := range frames() {
				s := a
				if i%2 == 1 {
					s = b
				}
				add(s, f.codec, f.frame)
				if i == 2 {
					if err := a.Ratchet(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := a.Rekey(keys[1]); err != nil {
				t.Fatal(err)
			}
			w := add(a, mediaprofile.CodecVP8, frames()[0].frame)
			bad := func(codec mediaprofile.Codec, wire []byte, name string) {
				req.Frames = append(req.Frames, interopFrame{Codec: codec.String(), Wire: hex.EncodeToString(wire)})
				want = append(want, name)
			}
			bad(mediaprofile.CodecVP8, w, "ReplayError")
			w2, err := a.Seal(nil, mediaprofile.CodecVP8, frames()[0].frame)
			if err != nil {
				t.Fatal(err)
			}
			altered := bytes.Clone(w2)
			altered[5] ^= 0x40 // in the clear prefix
			bad(mediaprofile.CodecVP8, altered, "AuthError")
			bad(mediaprofile.CodecVP8, w[:12], "MalformedError")
			other, _ := epochKeys(t, 7)
			c, err := mediaprofile.NewSender(other[0], cfg)
			if err != nil {
				t.Fatal(err)
			}
			cw, _ := c.Seal(nil, mediaprofile.CodecOpus, frames()[3].frame)
			bad(mediaprofile.CodecOpus, cw, "UnknownKeyError")

			for i, r := range interop(t, req) {
				got := r.Error
				if r.Plaintext != nil {
					got = *r.Plaintext
				}
				if got != want[i] {
					t.Errorf("frame %d (%s): JavaScript opened %.40q..., want %.40q...", i, req.Frames[i].Codec, got, want[i])
				}
			}
		})
	}
}

// TestInteropJSSealsGoOpens seals frames in JavaScript and opens them in Go.
func TestInteropJSSealsGoOpens(t *testing.T) {
	node(t)
	for _, suite := range interopSuites {
		t.Run(suite.String(), func(t *testing.T) {
			keys, js := epochKeys(t, 1, 2)
			req := interopRequest{Op: "seal", Suite: uint16(suite), Epochs: js}
			plain := frames()
			for i, f := range plain {
				req.Frames = append(req.Frames, interopFrame{Codec: f.codec.String(), Plaintext: hex.EncodeToString(f.frame), Epoch: "1", Sender: i % 2, Ratchet: i / 4})
			}
			req.Frames = append(req.Frames,
				interopFrame{Codec: "vp8", Plaintext: hex.EncodeToString(plain[1].frame), Epoch: "2"},
				interopFrame{Codec: "vp8", Plaintext: "31", Epoch: "2"},
				interopFrame{Codec: "opus", Plaintext: "", Epoch: "2", Sender: 1})
			res := interop(t, req)
			r := mediaprofile.NewReceiver(mediaprofile.Config{Suite: suite})
			for _, k := range keys {
				if err := r.AddEpoch(k); err != nil {
					t.Fatal(err)
				}
			}
			kids := map[mediaprofile.KID]bool{}
			for i, f := range req.Frames {
				if i >= len(plain)+1 {
					if res[i].Error != "ShortFrameError" {
						t.Errorf("frame %d: JavaScript sealed a short frame: %+v, want ShortFrameError", i, res[i])
					}
					continue
				}
				if res[i].Wire == nil {
					t.Fatalf("frame %d: JavaScript failed: %s", i, res[i].Error)
				}
				wire, _ := hex.DecodeString(*res[i].Wire)
				codec, _ := mediaprofile.ParseCodec(f.Codec)
				n, _ := codec.PrefixLen(wire)
				h, _, err := sframe.ParseHeader(wire[n:])
				if err != nil {
					t.Fatal(err)
				}
				kids[mediaprofile.KID(h.KID).Generation()] = true
				got, err := r.Open(nil, codec, wire)
				if err != nil {
					t.Fatalf("frame %d (%s): Go open: %v", i, f.Codec, err)
				}
				if hex.EncodeToString(got) != f.Plaintext {
					t.Fatalf("frame %d: Go opened %x, want %s", i, got, f.Plaintext)
				}
				if _, err := r.Open(nil, codec, wire); !errors.Is(err, mediaprofile.ErrReplay) {
					t.Fatalf("frame %d: second open: %v, want ErrReplay", i, err)
				}
			}
			if len(kids) != 3 {
				t.Fatalf("frames of %d sending sessions, want 3 (two in epoch 1, one after the re-key)", len(kids))
			}
		})
	}
}

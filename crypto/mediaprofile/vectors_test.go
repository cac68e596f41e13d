package mediaprofile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/sframe"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsPath = "testdata/vectors.json"

// vectorFile is the format of testdata/vectors.json, read by web/meeting's tests too.
type vectorFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

// vector is one sealed frame. Integers that may exceed 2^53 are hex strings, so that
// JavaScript reads them exactly.
type vector struct {
	Name      string `json:"name"`
	Suite     uint16 `json:"suite"`
	Epoch     uint64 `json:"epoch"`
	EpochKey  string `json:"epoch_key"` // hex
	Session   string `json:"session"`   // hex, 48 bits
	Step      uint8  `json:"step"`      // ratchet steps taken since the session began
	CTR       string `json:"ctr"`       // hex
	KID       string `json:"kid"`       // hex
	BaseKey   string `json:"base_key"`  // hex: SenderBaseKey of step 0
	Codec     string `json:"codec"`     // none, vp8, opus
	Plaintext string `json:"plaintext"` // hex: the whole frame
	Prefix    string `json:"prefix"`    // hex: the clear prefix, SFrame's metadata
	Wire      string `json:"wire"`      // hex: prefix || SFrame ciphertext
}

type vectorCase struct {
	name    string
	suite   sframe.Suite
	epoch   uint64
	session uint64
	step    uint8
	ctr     uint64
	codec   Codec
	frame   []byte
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// vp8Key is a VP8 key frame of n bytes: frame tag with bit 0 clear, start code, 640x480.
func vp8Key(n int) []byte {
	b := pattern(n, 0x11)
	copy(b, []byte{0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01})
	return b
}

// vp8Delta is a VP8 delta frame of n bytes: frame tag with bit 0 set.
func vp8Delta(n int) []byte {
	b := pattern(n, 0x23)
	b[0] = 0x31
	return b
}

func opusFrame(n int) []byte {
	b := pattern(n, 0x37)
	b[0] = 0xfc // TOC: CELT FB 20 ms, one frame
	return b
}

var vectorCases = []vectorCase{
	{"vp8 key frame", sframe.AES_256_GCM_SHA512_128, 1, 0x0123456789ab, 0, 0, CodecVP8, vp8Key(64)},
	{"vp8 delta frame", sframe.AES_256_GCM_SHA512_128, 1, 0x0123456789ab, 0, 1, CodecVP8, vp8Delta(48)},
	{"vp8 delta frame, header only", sframe.AES_256_GCM_SHA512_128, 1, 0x0123456789ab, 0, 2, CodecVP8, vp8Delta(3)},
	{"vp8 key frame, header only", sframe.AES_256_GCM_SHA512_128, 1, 0x0123456789ab, 0, 3, CodecVP8, vp8Key(10)},
	{"opus after 3 ratchet steps", sframe.AES_256_GCM_SHA512_128, 7, 0xfedcba987654, 3, 255, CodecOpus, opusFrame(100)},
	{"opus TOC only", sframe.AES_256_GCM_SHA512_128, 7, 0xfedcba987654, 0, 0, CodecOpus, opusFrame(1)},
	{"whole frame", sframe.AES_256_GCM_SHA512_128, 2, 0x000000000001, 0, 0x1234567890, CodecNone, pattern(40, 0x41)},
	{"empty frame, whole-frame codec", sframe.AES_256_GCM_SHA512_128, 2, 0x000000000001, 0, 1, CodecNone, nil},
	{"epoch 300, last ratchet step", sframe.AES_256_GCM_SHA512_128, 300, 0xffffffffffff, 255, 0xffffffffffffffff, CodecVP8, vp8Delta(32)},
	{"AES_128_GCM_SHA256_128 vp8 key frame", sframe.AES_128_GCM_SHA256_128, 1, 0x0123456789ab, 1, 5, CodecVP8, vp8Key(40)},
	{"AES_128_CTR_HMAC_SHA256_80 opus", sframe.AES_128_CTR_HMAC_SHA256_80, 1, 0x0123456789ab, 0, 9, CodecOpus, opusFrame(30)},
	{"AES_128_CTR_HMAC_SHA256_64 vp8 delta", sframe.AES_128_CTR_HMAC_SHA256_64, 1, 0x0123456789ab, 0, 9, CodecVP8, vp8Delta(30)},
	{"AES_128_CTR_HMAC_SHA256_32 none", sframe.AES_128_CTR_HMAC_SHA256_32, 1, 0x0123456789ab, 2, 9, CodecNone, pattern(30, 3)},
}

// vectorEpochKey is the epoch key of every vector.
func vectorEpochKey(t testing.TB, epoch uint64) e2ee.EpochKey {
	t.Helper()
	raw := make([]byte, e2ee.KeySize)
	for i := range raw {
		raw[i] = byte(0xa0 + i)
	}
	k, err := e2ee.NewEpochKey(epoch, raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sessionReader returns the 6 bytes of session, big-endian, as a Config.Rand.
func sessionReader(session uint64) *bytes.Reader {
	var b [6]byte
	for i := range b {
		b[i] = byte(session >> (40 - 8*i))
	}
	return bytes.NewReader(b[:])
}

func sealVector(t testing.TB, c vectorCase) vector {
	t.Helper()
	ek := vectorEpochKey(t, c.epoch)
	s, err := NewSender(ek, Config{Suite: c.suite, Rand: sessionReader(c.session)})
	if err != nil {
		t.Fatal(err)
	}
	base, err := SenderBaseKey(c.suite, c.epoch, ek.Bytes(), s.KID())
	if err != nil {
		t.Fatal(err)
	}
	for range c.step {
		if err := s.Ratchet(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.tx.AdvanceCounter(c.ctr); err != nil {
		t.Fatal(err)
	}
	kid := s.KID()
	wire, err := s.Seal(nil, c.codec, c.frame)
	if err != nil {
		t.Fatalf("%s: seal: %v", c.name, err)
	}
	n, _ := c.codec.PrefixLen(c.frame)
	return vector{
		Name: c.name, Suite: uint16(c.suite), Epoch: c.epoch, EpochKey: hex.EncodeToString(ek.Bytes()),
		Session: strconv.FormatUint(c.session, 16), Step: c.step, CTR: strconv.FormatUint(c.ctr, 16),
		KID: strconv.FormatUint(uint64(kid), 16), BaseKey: hex.EncodeToString(base), Codec: c.codec.String(),
		Plaintext: hex.EncodeToString(c.frame), Prefix: hex.EncodeToString(c.frame[:n]), Wire: hex.EncodeToString(wire),
	}
}

// TestVectors checks testdata/vectors.json, the profile's own vectors, against this
// implementation both ways; go test -run TestVectors -update rewrites it.
func TestVectors(t *testing.T) {
	var got vectorFile
	got.Comment = "Geofence media profile test vectors (docs/media-profile.md). Hex strings; session, ctr and kid are hex integers. Generated by go test ./crypto/mediaprofile -run TestVectors -update."
	for _, c := range vectorCases {
		got.Vectors = append(got.Vectors, sealVector(t, c))
	}
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.FromSlash(vectorsPath))
	if err != nil {
		t.Fatalf("%v (run go test -run TestVectors -update to create it)", err)
	}
	var want vectorFile
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Vectors) != len(got.Vectors) {
		t.Fatalf("got %d vectors, file has %d", len(got.Vectors), len(want.Vectors))
	}
	for i, w := range want.Vectors {
		t.Run(w.Name, func(t *testing.T) {
			if g := got.Vectors[i]; g != w {
				t.Fatalf("sealing gives\n%+v\nwant\n%+v", g, w)
			}
			// Open the file's wire frame with a receiver that knows only the epoch key.
			codec, err := ParseCodec(w.Codec)
			if err != nil {
				t.Fatal(err)
			}
			r := NewReceiver(Config{Suite: sframe.Suite(w.Suite)})
			if err := r.AddEpoch(vectorEpochKey(t, w.Epoch)); err != nil {
				t.Fatal(err)
			}
			wire, _ := hex.DecodeString(w.Wire)
			pt, err := r.Open(nil, codec, wire)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if hex.EncodeToString(pt) != w.Plaintext {
				t.Fatalf("open: got %x, want %s", pt, w.Plaintext)
			}
		})
	}
}

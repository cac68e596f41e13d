package e2ee_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
)

// fixedKey returns a recognisable 32-byte key starting at b.
func fixedKey(b byte) []byte {
	k := make([]byte, e2ee.KeySize)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func mustEpochKey(t testing.TB, epoch uint64, key []byte) e2ee.EpochKey {
	t.Helper()
	k, err := e2ee.NewEpochKey(epoch, key)
	if err != nil {
		t.Fatalf("NewEpochKey: %v", err)
	}
	return k
}

func TestNewMeetingKey(t *testing.T) {
	a, b := e2ee.NewMeetingKey(), e2ee.NewMeetingKey()
	if got, want := len(a), 32; got != want {
		t.Fatalf("len(NewMeetingKey()) = %d, want %d", got, want)
	}
	if bytes.Equal(a, b) {
		t.Errorf("two meeting keys are equal: %x", a)
	}
	if bytes.Equal(a, make([]byte, 32)) {
		t.Errorf("meeting key is all zero")
	}
}

func TestNewEpochKey(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		want error
	}{
		{"32 bytes", fixedKey(1), nil},
		{"nil", nil, keywrap.ErrKeySize},
		{"16 bytes", make([]byte, 16), keywrap.ErrKeySize},
		{"33 bytes", make([]byte, 33), keywrap.ErrKeySize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := e2ee.NewEpochKey(4, tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewEpochKey error = %v, want %v", err, tt.want)
			}
			if err != nil {
				if !k.IsZero() {
					t.Errorf("got %v with an error, want the zero EpochKey", k)
				}
				return
			}
			if got := k.Epoch(); got != 4 {
				t.Errorf("Epoch() = %d, want 4", got)
			}
			if got := k.Bytes(); !bytes.Equal(got, tt.key) {
				t.Errorf("Bytes() = %x, want %x", got, tt.key)
			}
		})
	}

	// The key is copied in and out.
	in := fixedKey(1)
	k := mustEpochKey(t, 1, in)
	in[0] ^= 0xff
	out := k.Bytes()
	out[1] ^= 0xff
	if got := k.Bytes(); !bytes.Equal(got, fixedKey(1)) {
		t.Errorf("Bytes() after changing input and output = %x, want %x", got, fixedKey(1))
	}
}

func TestEpochKeyEqual(t *testing.T) {
	a := mustEpochKey(t, 1, fixedKey(1))
	tests := []struct {
		name string
		x, y e2ee.EpochKey
		want bool
	}{
		{"same", a, mustEpochKey(t, 1, fixedKey(1)), true},
		{"other key", a, mustEpochKey(t, 1, fixedKey(2)), false},
		{"other epoch", a, mustEpochKey(t, 2, fixedKey(1)), false},
		{"key and zero", a, e2ee.EpochKey{}, false},
		{"zero and zero", e2ee.EpochKey{}, e2ee.EpochKey{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.Equal(tt.y); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEpochKeyRedacted checks every way a key might reach a log: fmt verbs, the key inside
// structs (exported and unexported fields), slices and maps, slog's text and JSON handlers,
// and JSON encoding.
func TestEpochKeyRedacted(t *testing.T) {
	raw := fixedKey(0xa0)
	k := mustEpochKey(t, 3, raw)
	var arr [32]byte
	copy(arr[:], raw)
	secrets := []string{
		hex.EncodeToString(raw),
		strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw)[:40],
		base64.RawURLEncoding.EncodeToString(raw)[:40],
		fmt.Sprint(raw)[:30], // "[160 161 162 ..."
		fmt.Sprintf("%#v", arr)[:30],
		string(raw[:8]),
	}
	type holder struct {
		k    e2ee.EpochKey
		K    e2ee.EpochKey
		keys []e2ee.EpochKey
	}
	h := holder{k, k, []e2ee.EpochKey{k}}
	var logText, logJSON bytes.Buffer
	slog.New(slog.NewTextHandler(&logText, nil)).Info("rotated", "key", k, "holder", h, "ptr", &k)
	slog.New(slog.NewJSONHandler(&logJSON, nil)).Info("rotated", "key", k, "ptr", &k)

	outputs := map[string]string{
		"Sprint":             fmt.Sprint(k),
		"Sprintln":           fmt.Sprintln(k),
		"%v":                 fmt.Sprintf("%v", k),
		"%+v":                fmt.Sprintf("%+v", k),
		"%#v":                fmt.Sprintf("%#v", k),
		"%s":                 fmt.Sprintf("%s", k),
		"%q":                 fmt.Sprintf("%q", k),
		"%x":                 fmt.Sprintf("%x", k),
		"%X":                 fmt.Sprintf("%X", k),
		"%d":                 fmt.Sprintf("%d", k),
		"pointer %+v":        fmt.Sprintf("%+v", &k),
		"struct %v":          fmt.Sprintf("%v", h),
		"struct %+v":         fmt.Sprintf("%+v", h),
		"struct %#v":         fmt.Sprintf("%#v", h),
		"pointer to struct":  fmt.Sprintf("%+v", &h),
		"slice":              fmt.Sprint([]e2ee.EpochKey{k, k}),
		"map":                fmt.Sprint(map[string]e2ee.EpochKey{"a": k}),
		"error wrapping %v":  fmt.Errorf("failed with %v", k).Error(),
		"slog text handler":  logText.String(),
		"slog JSON handler":  logJSON.String(),
		"String":             k.String(),
		"GoString":           k.GoString(),
		"errors.New(String)": errors.New(k.String()).Error(),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: output %q contains the key (as %q)", name, out, s)
			}
		}
	}
	if got, want := fmt.Sprint(k), "e2ee.EpochKey(epoch 3, key redacted)"; got != want {
		t.Errorf("fmt.Sprint(k) = %q, want %q", got, want)
	}
	if got, want := fmt.Sprint(e2ee.EpochKey{}), "e2ee.EpochKey(none)"; got != want {
		t.Errorf("fmt.Sprint(zero) = %q, want %q", got, want)
	}
	if !strings.Contains(logJSON.String(), `"key":{"epoch":3,"key":"redacted"}`) {
		t.Errorf("slog JSON = %s, want the epoch and a redacted key", logJSON.String())
	}

	type message struct {
		Key e2ee.EpochKey `json:"key"`
	}
	if b, err := json.Marshal(message{k}); !errors.Is(err, e2ee.ErrPlaintextKey) {
		t.Errorf("json.Marshal = %s, %v; want ErrPlaintextKey", b, err)
	}
	if b, err := json.Marshal(map[string]any{"k": &k}); !errors.Is(err, e2ee.ErrPlaintextKey) {
		t.Errorf("json.Marshal(pointer) = %s, %v; want ErrPlaintextKey", b, err)
	}
	if b, err := k.MarshalText(); !errors.Is(err, e2ee.ErrPlaintextKey) {
		t.Errorf("MarshalText = %s, %v; want ErrPlaintextKey", b, err)
	}
}

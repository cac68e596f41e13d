package keywrap_test

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

	"github.com/geofence/geofence/crypto/keywrap"
)

var allSuites = []keywrap.Suite{keywrap.X25519, keywrap.MLKEM768X25519}

func generate(t testing.TB, s keywrap.Suite) keywrap.PrivateKey {
	t.Helper()
	k, err := keywrap.GenerateKey(s)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", s, err)
	}
	return k
}

// meetingKey returns a fixed, recognisable 32-byte key.
func meetingKey() []byte {
	k := make([]byte, keywrap.KeySize)
	for i := range k {
		k[i] = byte(0xa0 + i)
	}
	return k
}

var binding = keywrap.Binding{Meeting: "m-123", Epoch: 7, Participant: "alice"}

func TestSuite(t *testing.T) {
	var zero keywrap.Suite
	if zero != keywrap.X25519 {
		t.Errorf("zero Suite = %s, want x25519 (the default)", zero)
	}
	tests := []struct {
		name  string
		suite keywrap.Suite
	}{
		{"x25519", keywrap.X25519},
		{"mlkem768x25519", keywrap.MLKEM768X25519},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.suite.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			got, err := keywrap.ParseSuite(tt.name)
			if err != nil || got != tt.suite {
				t.Errorf("ParseSuite(%q) = %v, %v; want %v, nil", tt.name, got, err, tt.suite)
			}
		})
	}
	for _, bad := range []string{"", "X25519", "x448", "x25519 ", "x25519-private"} {
		if _, err := keywrap.ParseSuite(bad); !errors.Is(err, keywrap.ErrUnknownSuite) {
			t.Errorf("ParseSuite(%q) error = %v, want ErrUnknownSuite", bad, err)
		}
	}
	if got, want := keywrap.Suite(9).String(), "keywrap.Suite(9)"; got != want {
		t.Errorf("Suite(9).String() = %q, want %q", got, want)
	}
	if _, err := keywrap.GenerateKey(keywrap.Suite(9)); !errors.Is(err, keywrap.ErrUnknownSuite) {
		t.Errorf("GenerateKey(Suite(9)) error = %v, want ErrUnknownSuite", err)
	}
}

// TestSizes pins the sizes the parsers enforce, so a change in crypto/hpke cannot slip by.
func TestSizes(t *testing.T) {
	tests := []struct {
		suite                        keywrap.Suite
		pub, priv, wrapped, textWrap int
	}{
		{keywrap.X25519, 32, 32, 32 + 48, len("x25519-wrapped:") + 107},
		{keywrap.MLKEM768X25519, 1216, 32, 1120 + 48, len("mlkem768x25519-wrapped:") + 1558},
	}
	for _, tt := range tests {
		t.Run(tt.suite.String(), func(t *testing.T) {
			k := generate(t, tt.suite)
			if got := len(k.PublicKey().Bytes()); got != tt.pub {
				t.Errorf("public key: got %d bytes, want %d", got, tt.pub)
			}
			enc, err := k.Encode()
			if err != nil {
				t.Fatal(err)
			}
			_, b64, _ := strings.Cut(enc, ":")
			if got := base64.RawURLEncoding.DecodedLen(len(b64)); got != tt.priv {
				t.Errorf("private key: got %d bytes, want %d", got, tt.priv)
			}
			w, err := keywrap.Wrap(k.PublicKey(), meetingKey(), binding)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(w.Bytes()); got != tt.wrapped {
				t.Errorf("wrapped: got %d bytes, want %d", got, tt.wrapped)
			}
			if got := len(w.String()); got != tt.textWrap {
				t.Errorf("wrapped text: got %d characters, want %d", got, tt.textWrap)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	bindings := []struct {
		name string
		b    keywrap.Binding
	}{
		{"simple", binding},
		{"epoch zero", keywrap.Binding{Meeting: "m", Epoch: 0, Participant: "p"}},
		{"epoch max", keywrap.Binding{Meeting: "m", Epoch: 1<<64 - 1, Participant: "p"}},
		{"unicode", keywrap.Binding{Meeting: "réunion-東京", Epoch: 3, Participant: "zoë"}},
		{"longest ids", keywrap.Binding{
			Meeting:     strings.Repeat("m", keywrap.MaxIDLen),
			Epoch:       1,
			Participant: strings.Repeat("p", keywrap.MaxIDLen),
		}},
	}
	for _, s := range allSuites {
		priv := generate(t, s)
		for _, tt := range bindings {
			t.Run(s.String()+"/"+tt.name, func(t *testing.T) {
				w, err := keywrap.Wrap(priv.PublicKey(), meetingKey(), tt.b)
				if err != nil {
					t.Fatalf("Wrap: %v", err)
				}
				if got := w.Suite(); got != s {
					t.Errorf("Wrapped.Suite() = %s, want %s", got, s)
				}
				// Through the text form, as a relay would carry it.
				parsed, err := keywrap.ParseWrapped(w.String())
				if err != nil {
					t.Fatalf("ParseWrapped(String()): %v", err)
				}
				got, err := keywrap.Unwrap(priv, parsed, tt.b)
				if err != nil {
					t.Fatalf("Unwrap: %v", err)
				}
				if !bytes.Equal(got, meetingKey()) {
					t.Errorf("Unwrap = %x, want %x", got, meetingKey())
				}
			})
		}
	}
}

// TestWrapIsRandomized checks that two wraps of the same key differ (fresh encapsulation each
// time), so equal wrapped keys never reveal equal meeting keys.
func TestWrapIsRandomized(t *testing.T) {
	for _, s := range allSuites {
		pub := generate(t, s).PublicKey()
		a, err := keywrap.Wrap(pub, meetingKey(), binding)
		if err != nil {
			t.Fatal(err)
		}
		b, err := keywrap.Wrap(pub, meetingKey(), binding)
		if err != nil {
			t.Fatal(err)
		}
		if a.String() == b.String() {
			t.Errorf("%s: two wraps of the same key are equal", s)
		}
	}
}

func TestWrapErrors(t *testing.T) {
	pub := generate(t, keywrap.X25519).PublicKey()
	tests := []struct {
		name string
		pub  keywrap.PublicKey
		key  []byte
		b    keywrap.Binding
		want error
	}{
		{"zero public key", keywrap.PublicKey{}, meetingKey(), binding, keywrap.ErrNoKey},
		{"nil key", pub, nil, binding, keywrap.ErrKeySize},
		{"16-byte key", pub, make([]byte, 16), binding, keywrap.ErrKeySize},
		{"31-byte key", pub, make([]byte, 31), binding, keywrap.ErrKeySize},
		{"33-byte key", pub, make([]byte, 33), binding, keywrap.ErrKeySize},
		{"empty meeting", pub, meetingKey(), keywrap.Binding{Participant: "p"}, keywrap.ErrBinding},
		{"empty participant", pub, meetingKey(), keywrap.Binding{Meeting: "m"}, keywrap.ErrBinding},
		{"meeting too long", pub, meetingKey(),
			keywrap.Binding{Meeting: strings.Repeat("m", keywrap.MaxIDLen+1), Participant: "p"}, keywrap.ErrBinding},
		{"participant too long", pub, meetingKey(),
			keywrap.Binding{Meeting: "m", Participant: strings.Repeat("p", keywrap.MaxIDLen+1)}, keywrap.ErrBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := keywrap.Wrap(tt.pub, tt.key, tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Wrap error = %v, want %v", err, tt.want)
			}
			if !w.IsZero() {
				t.Errorf("Wrap returned %s with an error, want the zero Wrapped", w)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "keywrap: wrap") || msg != strings.ToLower(msg[:1])+msg[1:] {
				t.Errorf("error %q: want it to start with %q", msg, "keywrap: wrap")
			}
		})
	}
}

// TestUnwrapMisuse checks that every way of opening a wrapped key with something other than
// the recipient's private key and the exact binding fails with an error.
func TestUnwrapMisuse(t *testing.T) {
	for _, s := range allSuites {
		priv := generate(t, s)
		other := generate(t, s)
		otherSuite := generate(t, allSuites[1-int(s)])
		w, err := keywrap.Wrap(priv.PublicKey(), meetingKey(), binding)
		if err != nil {
			t.Fatal(err)
		}
		encLen := len(w.Bytes()) - keywrap.KeySize - 16
		tamper := func(i int) keywrap.Wrapped {
			b := w.Bytes()
			b[i] ^= 0x01
			return reparse(t, s, b)
		}
		tests := []struct {
			name string
			priv keywrap.PrivateKey
			w    keywrap.Wrapped
			b    keywrap.Binding
			want error
		}{
			{"wrong private key", other, w, binding, keywrap.ErrUnwrap},
			{"private key of other suite", otherSuite, w, binding, keywrap.ErrSuiteMismatch},
			{"other meeting", priv, w, keywrap.Binding{Meeting: "m-124", Epoch: 7, Participant: "alice"}, keywrap.ErrUnwrap},
			{"other epoch", priv, w, keywrap.Binding{Meeting: "m-123", Epoch: 8, Participant: "alice"}, keywrap.ErrUnwrap},
			{"previous epoch", priv, w, keywrap.Binding{Meeting: "m-123", Epoch: 6, Participant: "alice"}, keywrap.ErrUnwrap},
			{"other participant", priv, w, keywrap.Binding{Meeting: "m-123", Epoch: 7, Participant: "bob"}, keywrap.ErrUnwrap},
			// Length prefixes: moving bytes between meeting and participant is another binding.
			{"shifted boundary", priv, w, keywrap.Binding{Meeting: "m-123a", Epoch: 7, Participant: "lice"}, keywrap.ErrUnwrap},
			{"tampered enc first byte", priv, tamper(0), binding, keywrap.ErrUnwrap},
			{"tampered enc last byte", priv, tamper(encLen - 1), binding, keywrap.ErrUnwrap},
			{"tampered ciphertext", priv, tamper(encLen), binding, keywrap.ErrUnwrap},
			{"tampered tag", priv, tamper(len(w.Bytes()) - 1), binding, keywrap.ErrUnwrap},
			{"zero private key", keywrap.PrivateKey{}, w, binding, keywrap.ErrNoKey},
			{"zero wrapped key", priv, keywrap.Wrapped{}, binding, keywrap.ErrNoKey},
			{"invalid binding", priv, w, keywrap.Binding{Meeting: "m-123", Epoch: 7}, keywrap.ErrBinding},
		}
		for _, tt := range tests {
			t.Run(s.String()+"/"+tt.name, func(t *testing.T) {
				got, err := keywrap.Unwrap(tt.priv, tt.w, tt.b)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Unwrap error = %v, want %v", err, tt.want)
				}
				if got != nil {
					t.Errorf("Unwrap returned %x with an error, want nil", got)
				}
			})
		}
	}
}

// reparse builds a Wrapped from raw bytes through the public text form.
func reparse(t testing.TB, s keywrap.Suite, raw []byte) keywrap.Wrapped {
	t.Helper()
	w, err := keywrap.ParseWrapped(s.String() + "-wrapped:" + base64.RawURLEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatalf("ParseWrapped: %v", err)
	}
	return w
}

// x25519Pub is an X25519 public key (the RFC 7748 section 6.1 test key of Alice).
const x25519Pub = "x25519:hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"

func TestParsePublicKey(t *testing.T) {
	hybrid := generate(t, keywrap.MLKEM768X25519).PublicKey().String()
	zeros := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	one := base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 31)...))
	// Flip a low bit of the last character: same decoded bytes in a lax decoder, but not
	// the canonical encoding.
	nonCanonical := x25519Pub[:len(x25519Pub)-1] + "p"
	tests := []struct {
		name string
		in   string
		want error // nil: valid
	}{
		{"x25519", x25519Pub, nil},
		{"hybrid", hybrid, nil},
		{"empty", "", keywrap.ErrMalformed},
		{"no colon", "x25519", keywrap.ErrMalformed},
		{"no suite", ":" + x25519Pub[7:], keywrap.ErrUnknownSuite},
		{"unknown suite", "x448:" + x25519Pub[7:], keywrap.ErrUnknownSuite},
		{"suite upper case", "X25519:" + x25519Pub[7:], keywrap.ErrUnknownSuite},
		{"space before", " " + x25519Pub, keywrap.ErrUnknownSuite},
		{"space after", x25519Pub + " ", keywrap.ErrMalformed},
		{"private key prefix", "x25519-private:" + x25519Pub[7:], keywrap.ErrMalformed},
		{"wrapped key prefix", "x25519-wrapped:" + x25519Pub[7:], keywrap.ErrMalformed},
		{"padded", x25519Pub + "=", keywrap.ErrMalformed},
		{"standard alphabet", "x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo", keywrap.ErrMalformed},
		{"newline inside", "x25519:hSDwCYkwp1R0i33ctD73Wg2\nOg0mOBr066SpjqqbTmo", keywrap.ErrMalformed},
		{"non-canonical last character", nonCanonical, keywrap.ErrMalformed},
		{"one byte short", "x25519:" + base64.RawURLEncoding.EncodeToString(make([]byte, 31)), keywrap.ErrMalformed},
		{"one byte long", "x25519:" + base64.RawURLEncoding.EncodeToString(append(make([]byte, 32), 9)), keywrap.ErrMalformed},
		{"hybrid length under x25519", "x25519:" + hybrid[len("mlkem768x25519:"):], keywrap.ErrMalformed},
		{"x25519 length under hybrid", "mlkem768x25519:" + x25519Pub[7:], keywrap.ErrMalformed},
		{"low-order point zero", "x25519:" + zeros, keywrap.ErrMalformed},
		{"low-order point one", "x25519:" + one, keywrap.ErrMalformed},
		{"second colon", "x25519:" + x25519Pub[7:len(x25519Pub)-1] + ":", keywrap.ErrMalformed},
		{"huge", "x25519:" + strings.Repeat("A", 1<<20), keywrap.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keywrap.ParsePublicKey(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParsePublicKey error = %v, want %v", err, tt.want)
			}
			if err != nil {
				if !k.IsZero() {
					t.Errorf("got key %s with an error, want the zero PublicKey", k)
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "keywrap: parse public key: ") || len(msg) > 200 {
					t.Errorf("error %q: want a short message starting with %q", msg, "keywrap: parse public key: ")
				}
				return
			}
			if got := k.String(); got != tt.in {
				t.Errorf("String() = %q, want %q", got, tt.in)
			}
		})
	}
}

func TestPublicKeyJSON(t *testing.T) {
	type msg struct {
		Key keywrap.PublicKey `json:"key"`
	}
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			pub := generate(t, s).PublicKey()
			b, err := json.Marshal(msg{pub})
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"key":"` + pub.String() + `"}`; string(b) != want {
				t.Errorf("json.Marshal = %s, want %s", b, want)
			}
			var got msg
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !got.Key.Equal(pub) {
				t.Errorf("round trip: got %s, want %s", got.Key, pub)
			}
		})
	}
	if _, err := json.Marshal(msg{}); !errors.Is(err, keywrap.ErrNoKey) {
		t.Errorf("marshal zero key: error = %v, want ErrNoKey", err)
	}
	var m msg
	if err := json.Unmarshal([]byte(`{"key":"x448:AAAA"}`), &m); !errors.Is(err, keywrap.ErrUnknownSuite) {
		t.Errorf("unmarshal unknown suite: error = %v, want ErrUnknownSuite", err)
	}
}

func TestPublicKeyEqual(t *testing.T) {
	a := generate(t, keywrap.X25519).PublicKey()
	b := generate(t, keywrap.X25519).PublicKey()
	a2, err := keywrap.ParsePublicKey(a.String())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		x, y keywrap.PublicKey
		want bool
	}{
		{"same key parsed again", a, a2, true},
		{"different keys", a, b, false},
		{"key and zero", a, keywrap.PublicKey{}, false},
		{"zero and zero", keywrap.PublicKey{}, keywrap.PublicKey{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.Equal(tt.y); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrivateKeyEncode(t *testing.T) {
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			priv := generate(t, s)
			enc, err := priv.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if want := s.String() + "-private:"; !strings.HasPrefix(enc, want) {
				t.Errorf("Encode() = %q..., want prefix %q", enc[:20], want)
			}
			back, err := keywrap.ParsePrivateKey(enc)
			if err != nil {
				t.Fatalf("ParsePrivateKey(Encode()): %v", err)
			}
			if !back.PublicKey().Equal(priv.PublicKey()) {
				t.Errorf("public key after round trip: got %s, want %s", back.PublicKey(), priv.PublicKey())
			}
			// The restored key opens what was wrapped to the original.
			w, err := keywrap.Wrap(priv.PublicKey(), meetingKey(), binding)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := keywrap.Unwrap(back, w, binding); err != nil || !bytes.Equal(got, meetingKey()) {
				t.Errorf("Unwrap with restored key = %x, %v; want %x, nil", got, err, meetingKey())
			}
			if _, err := keywrap.ParsePublicKey(enc); err == nil {
				t.Errorf("ParsePublicKey accepted a private key")
			}
		})
	}
	if _, err := (keywrap.PrivateKey{}).Encode(); !errors.Is(err, keywrap.ErrNoKey) {
		t.Errorf("Encode of zero key: error = %v, want ErrNoKey", err)
	}
	for _, bad := range []string{"", "x25519-private", "x25519:" + x25519Pub[7:], "x25519-private:AAAA", "mlkem768x25519-private:" + strings.Repeat("A", 44)} {
		if _, err := keywrap.ParsePrivateKey(bad); err == nil {
			t.Errorf("ParsePrivateKey(%q) succeeded, want an error", bad)
		}
	}
}

// TestPrivateKeyRedacted checks that no way of printing or logging a private key shows its
// key material.
func TestPrivateKeyRedacted(t *testing.T) {
	priv := generate(t, keywrap.X25519)
	enc, err := priv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	_, secretB64, _ := strings.Cut(enc, ":")
	raw, err := base64.RawURLEncoding.DecodeString(secretB64)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{secretB64, hex.EncodeToString(raw), fmt.Sprint(raw), fmt.Sprintf("%#v", raw)}

	type holder struct {
		k keywrap.PrivateKey
		K keywrap.PrivateKey
	}
	var logText, logJSON bytes.Buffer
	slog.New(slog.NewTextHandler(&logText, nil)).Info("x", "key", priv, "h", holder{priv, priv})
	slog.New(slog.NewJSONHandler(&logJSON, nil)).Info("x", "key", priv)
	outputs := map[string]string{
		"Sprint":       fmt.Sprint(priv),
		"%v":           fmt.Sprintf("%v", priv),
		"%+v":          fmt.Sprintf("%+v", priv),
		"%#v":          fmt.Sprintf("%#v", priv),
		"%s":           fmt.Sprintf("%s", priv),
		"%x":           fmt.Sprintf("%x", priv),
		"%q":           fmt.Sprintf("%q", priv),
		"pointer %+v":  fmt.Sprintf("%+v", &priv),
		"in struct":    fmt.Sprintf("%+v", holder{priv, priv}),
		"in struct %#": fmt.Sprintf("%#v", holder{priv, priv}),
		"slog text":    logText.String(),
		"slog json":    logJSON.String(),
	}
	for name, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: output %q contains the private key", name, out)
			}
		}
	}
	if got, want := fmt.Sprint(priv), "keywrap.PrivateKey(x25519, redacted)"; got != want {
		t.Errorf("fmt.Sprint = %q, want %q", got, want)
	}
	if b, err := json.Marshal(priv); err == nil {
		t.Errorf("json.Marshal = %s, want an error", b)
	}
}

func TestParseWrapped(t *testing.T) {
	priv := generate(t, keywrap.X25519)
	w, err := keywrap.Wrap(priv.PublicKey(), meetingKey(), binding)
	if err != nil {
		t.Fatal(err)
	}
	good := w.String()
	_, data, _ := strings.Cut(good, ":")
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"valid", good, nil},
		{"empty", "", keywrap.ErrMalformed},
		{"public key prefix", "x25519:" + data, keywrap.ErrMalformed},
		{"unknown suite", "x448-wrapped:" + data, keywrap.ErrUnknownSuite},
		{"hybrid prefix, x25519 length", "mlkem768x25519-wrapped:" + data, keywrap.ErrMalformed},
		{"truncated", good[:len(good)-4], keywrap.ErrMalformed},
		{"extended", good + "AAAA", keywrap.ErrMalformed},
		{"padded", good + "=", keywrap.ErrMalformed},
		{"bad character", good[:len(good)-5] + "!" + good[len(good)-4:], keywrap.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keywrap.ParseWrapped(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseWrapped error = %v, want %v", err, tt.want)
			}
			if err == nil && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}

	type msg struct {
		W keywrap.Wrapped `json:"w"`
	}
	b, err := json.Marshal(msg{w})
	if err != nil {
		t.Fatal(err)
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if got, err := keywrap.Unwrap(priv, m.W, binding); err != nil || !bytes.Equal(got, meetingKey()) {
		t.Errorf("Unwrap after JSON round trip = %x, %v; want %x, nil", got, err, meetingKey())
	}
	if _, err := json.Marshal(msg{}); !errors.Is(err, keywrap.ErrNoKey) {
		t.Errorf("marshal zero Wrapped: error = %v, want ErrNoKey", err)
	}
}

// TestBytesIsCopy checks that a caller cannot alter a Wrapped through Bytes.
func TestBytesIsCopy(t *testing.T) {
	priv := generate(t, keywrap.X25519)
	w, err := keywrap.Wrap(priv.PublicKey(), meetingKey(), binding)
	if err != nil {
		t.Fatal(err)
	}
	b := w.Bytes()
	b[0] ^= 0xff
	if _, err := keywrap.Unwrap(priv, w, binding); err != nil {
		t.Errorf("Unwrap after changing the result of Bytes: %v; want Bytes to return a copy", err)
	}
}

// TestPrivateKeyClamped: any 32 bytes load as an X25519 private key, and Encode returns the
// clamped scalar RFC 9180 section 7.1.2 asks SerializePrivateKey for, which is the same key.
func TestPrivateKeyClamped(t *testing.T) {
	raw := bytes.Repeat([]byte{0xff}, 32)
	clamped := bytes.Clone(raw)
	clamped[0] &= 248
	clamped[31] &= 127
	clamped[31] |= 64
	in := "x25519-private:" + base64.RawURLEncoding.EncodeToString(raw)
	want := "x25519-private:" + base64.RawURLEncoding.EncodeToString(clamped)

	k, err := keywrap.ParsePrivateKey(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Encode() = %q, want %q", got, want)
	}
	k2, err := keywrap.ParsePrivateKey(got)
	if err != nil {
		t.Fatal(err)
	}
	if !k2.PublicKey().Equal(k.PublicKey()) {
		t.Errorf("clamped key has public key %s, want %s", k2.PublicKey(), k.PublicKey())
	}
}

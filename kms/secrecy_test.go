package kms

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/geofence/geofence/wire"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/crypto/keywrap"
)

// encodings returns the forms a leaked key could take in a log or a response.
func encodings(key []byte) map[string][]byte {
	return map[string][]byte{
		"raw":           key,
		"hex":           []byte(hex.EncodeToString(key)),
		"HEX":           []byte(strings.ToUpper(hex.EncodeToString(key))),
		"base64":        []byte(base64.StdEncoding.EncodeToString(key)),
		"base64 raw":    []byte(base64.RawStdEncoding.EncodeToString(key)),
		"base64url":     []byte(base64.URLEncoding.EncodeToString(key)),
		"base64url raw": []byte(base64.RawURLEncoding.EncodeToString(key)),
		// A byte slice printed with %v or as a JSON array of numbers.
		"%v":         []byte(fmt.Sprint(key)),
		"json array": func() []byte { b, _ := json.Marshal(toInts(key)); return b }(),
	}
}

func toInts(b []byte) []int {
	out := make([]int, len(b))
	for i, v := range b {
		out[i] = int(v)
	}
	return out
}

// assertNoKey fails when any encoding of any key occurs in data.
func assertNoKey(t *testing.T, where string, data []byte, keys [][]byte) {
	t.Helper()
	for i, k := range keys {
		for name, enc := range encodings(k) {
			if bytes.Contains(data, enc) {
				t.Errorf("%s holds key %d in %s form", where, i, name)
			}
		}
	}
}

// TestPlaintextKeyNeverLeaves drives a key server through issuances (both suites), a
// rotation, a retained epoch and refusals, with every log record captured at debug level, and
// checks that no meeting key appears in the logs or the HTTP answers, in any encoding.
func TestPlaintextKeyNeverLeaves(t *testing.T) {
	e := newEnv(t, "us-sjc", nil)
	alice := newParty(t, "alice", keywrap.X25519)
	bob := newParty(t, "bob", keywrap.MLKEM768X25519)
	aliceTok := e.sign(naClaims("m-1", alice))
	bobTok := e.sign(naClaims("m-1", bob))

	var bodies [][]byte
	var keys [][]byte
	issue := func(tok string, p party, epoch uint64) {
		t.Helper()
		req := wire.KeyRequest{Token: tok}
		if epoch != 0 {
			req.Epoch = epochPtr(epoch)
		}
		a := e.key("m-1", req)
		bodies = append(bodies, a.body)
		if a.status != http.StatusOK {
			t.Fatalf("got %d %s (%s)", a.status, a.err.Error, a.err.Message)
		}
		keys = append(keys, open(t, p, a.key))
	}
	issue(aliceTok, alice, 0)
	issue(bobTok, bob, 0)
	a := e.leave("m-1", bobTok)
	bodies = append(bodies, a.body)
	issue(aliceTok, alice, 0)
	issue(aliceTok, alice, 1)
	// Refusals, which log the most detail.
	for _, req := range []wire.KeyRequest{
		{Token: bobTok},
		{Token: aliceTok, PublicKey: bob.pub.String()},
		{Token: aliceTok, Epoch: epochPtr(9)},
		{Token: "garbage"},
	} {
		bodies = append(bodies, e.key("m-1", req).body)
	}
	e.clk.Advance(time.Hour - time.Minute)
	e.srv.Sweep()

	// The test-only view of the keys: unseal what the store holds, to be sure the list
	// above covers every key the server has.
	for _, mk := range e.srv.store.(*store).meetings {
		for _, sk := range mk.epochs {
			k, err := e.srv.sealer.open(sk.sealed, "m-1", sk.epoch)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, bytes.Clone(k.bytes()))
		}
	}
	if len(keys) < 5 || bytes.Equal(keys[0], keys[2]) {
		t.Fatalf("test setup: want keys of two epochs, got %d keys", len(keys))
	}

	logs := e.logs.Bytes()
	if len(logs) == 0 {
		t.Fatal("nothing logged")
	}
	assertNoKey(t, "the log", logs, keys)
	for i, b := range bodies {
		assertNoKey(t, fmt.Sprintf("answer %d", i), b, keys)
	}

	// Every issuance, refusal and rotation is logged with what the audit trail needs (I6).
	want := map[string][]string{
		"key issued":     {"dc", "outcome", "meeting", "participant", "epoch", "suite"},
		"key rotated":    {"dc", "outcome", "meeting", "epoch", "previous_epoch", "at", "leaves"},
		"leave recorded": {"dc", "outcome", "leave", "meeting", "participant", "epoch", "ticket"},
		"key refused":    {"dc", "outcome", "meeting", "participant", "epoch", "rule", "message"},
	}
	count := map[string]int{}
	for _, rec := range logRecords(t, e.logs) {
		msg, _ := rec["msg"].(string)
		count[msg]++
		for _, k := range want[msg] {
			if _, ok := rec[k]; !ok {
				t.Errorf("log record %q lacks %q: %v", msg, k, rec)
			}
		}
		if rec["dc"] != nil && rec["dc"] != "us-sjc" {
			t.Errorf("log record %q: dc %v, want us-sjc", msg, rec["dc"])
		}
	}
	for msg, n := range map[string]int{"key issued": 4, "key rotated": 1, "leave recorded": 1, "key refused": 4} {
		if count[msg] != n {
			t.Errorf("got %d %q records, want %d", count[msg], msg, n)
		}
	}
}

// TestMeetingKeyRedacts checks that the plaintext key type never prints, logs or marshals its
// bytes, whatever way it is formatted.
func TestMeetingKeyRedacts(t *testing.T) {
	k := newMeetingKey(7)
	keys := [][]byte{bytes.Clone(k.bytes())}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		fmt.Fprintf(&out, verb+"\n", k)
		fmt.Fprintf(&out, verb+"\n", &k)
		fmt.Fprintf(&out, verb+"\n", struct{ K meetingKey }{k})
		fmt.Fprintf(&out, verb+"\n", []meetingKey{k})
	}
	for _, v := range []any{k, &k, struct{ K meetingKey }{k}, map[string]meetingKey{"k": k}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	for _, h := range []slog.Handler{
		slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}),
	} {
		log := slog.New(h)
		log.Debug("key", "key", k, "ptr", &k, "any", any(k), "struct", struct{ K meetingKey }{k})
	}
	assertNoKey(t, "formatted output", out.Bytes(), keys)
	if !strings.Contains(out.String(), "redacted") {
		t.Errorf("output says nothing about redaction:\n%s", out.String())
	}
	k.destroy()
	if !bytes.Equal(k.bytes(), make([]byte, KeySize)) {
		t.Errorf("destroy left key bytes behind")
	}
}

// TestSealedAtRest checks that the store holds only sealed keys: no stored value contains a
// plaintext key, each is nonce || ciphertext || tag, and it opens only under the KEK,
// datacenter, meeting and epoch it was sealed with.
func TestSealedAtRest(t *testing.T) {
	e := newEnv(t, "us-sjc", nil)
	alice := newParty(t, "alice", keywrap.X25519)
	tok := e.sign(naClaims("m-1", alice))
	a := e.key("m-1", wire.KeyRequest{Token: tok})
	if a.status != http.StatusOK {
		t.Fatalf("got %d %s", a.status, a.err.Error)
	}
	k1 := open(t, alice, a.key)
	e.leave("m-1", tok)
	b := e.key("m-1", wire.KeyRequest{Token: e.sign(naClaims("m-1", alice))})
	if b.status != http.StatusOK {
		t.Fatalf("got %d %s", b.status, b.err.Error)
	}
	k2 := open(t, alice, b.key)
	keys := [][]byte{k1, k2}

	mk := e.srv.store.(*store).meetings["m-1"]
	if mk == nil || len(mk.epochs) != 2 {
		t.Fatalf("store: got %+v, want two epochs of m-1", mk)
	}
	for _, sk := range mk.epochs {
		if got, want := len(sk.sealed), 12+KeySize+16; got != want {
			t.Errorf("epoch %d: sealed value is %d bytes, want %d (nonce, ciphertext, tag)", sk.epoch, got, want)
		}
		assertNoKey(t, fmt.Sprintf("sealed epoch %d", sk.epoch), sk.sealed, keys)
	}
	// Every byte the store holds, through fmt's view of it.
	assertNoKey(t, "the store", fmt.Appendf(nil, "%+v %+v", e.srv.store, *mk), keys)

	sealed1 := mk.epochs[0].sealed
	wrongKEK, err := newSealer(testKEK(2), "us-sjc")
	if err != nil {
		t.Fatal(err)
	}
	otherDC, err := newSealer(testKEK(1), "ca-yyz")
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed1)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name    string
		s       *sealer
		sealed  []byte
		meeting string
		epoch   uint64
		want    []byte // nil: must fail
	}{
		{"right KEK and binding", e.srv.sealer, sealed1, "m-1", 1, k1},
		{"wrong KEK", wrongKEK, sealed1, "m-1", 1, nil},
		{"another datacenter", otherDC, sealed1, "m-1", 1, nil},
		{"another meeting", e.srv.sealer, sealed1, "m-2", 1, nil},
		{"another epoch", e.srv.sealer, sealed1, "m-1", 2, nil},
		{"epoch 2's slot", e.srv.sealer, mk.epochs[1].sealed, "m-1", 1, nil},
		{"tampered", e.srv.sealer, tampered, "m-1", 1, nil},
		{"truncated", e.srv.sealer, sealed1[:len(sealed1)-1], "m-1", 1, nil},
		{"empty", e.srv.sealer, nil, "m-1", 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tt.s.open(tt.sealed, tt.meeting, tt.epoch)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("opened, want %v", ErrUnseal)
				}
				if !errors.Is(err, ErrUnseal) {
					t.Errorf("got %v, want %v", err, ErrUnseal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.bytes(), tt.want) {
				t.Errorf("unsealed a key other than the one issued")
			}
		})
	}

	// Two seals of one key differ: the nonce is random.
	k := newMeetingKey(1)
	if bytes.Equal(e.srv.sealer.seal(k, "m-1"), e.srv.sealer.seal(k, "m-1")) {
		t.Errorf("two seals of one key are equal: the nonce repeats")
	}
}

// TestAADUnambiguous checks that no two (datacenter, meeting) pairs encode to the same
// additional data.
func TestAADUnambiguous(t *testing.T) {
	a := (&sealer{dc: "ab"}).aad("c", 1)
	b := (&sealer{dc: "a"}).aad("bc", 1)
	if bytes.Equal(a, b) {
		t.Errorf("aad(ab, c) == aad(a, bc)")
	}
}

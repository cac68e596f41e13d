package sframe

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"testing"
)

// rfc5869 computes HKDF-Extract with an empty salt and HKDF-Expand straight from RFC 5869
// section 2, with crypto/hmac only, as an independent check of crypto/hkdf's use here.
func rfc5869(h func() hash.Hash, ikm []byte, info string, n int) []byte {
	extract := hmac.New(h, make([]byte, h().Size()))
	extract.Write(ikm)
	prk := extract.Sum(nil)
	var okm, t []byte
	for i := byte(1); len(okm) < n; i++ {
		m := hmac.New(h, prk)
		m.Write(t)
		m.Write([]byte(info))
		m.Write([]byte{i})
		t = m.Sum(nil)
		okm = append(okm, t...)
	}
	return okm[:n]
}

func TestDerivationMatchesRFC5869(t *testing.T) {
	for _, suite := range allSuites {
		p, _ := suite.params()
		for _, kid := range []uint64{0, 291, 1 << 63} {
			t.Run(fmt.Sprintf("%v/kid=%d", suite, kid), func(t *testing.T) {
				base := testKey("derive")
				info := func(prefix string) string {
					b := binary.BigEndian.AppendUint64([]byte(prefix), kid)
					return string(binary.BigEndian.AppendUint16(b, uint16(suite)))
				}
				_, key, salt, err := deriveKeySalt(suite, kid, base)
				if err != nil {
					t.Fatal(err)
				}
				if want := rfc5869(p.hash, base, info("SFrame 1.0 Secret key "), p.nk); !bytes.Equal(key, want) {
					t.Errorf("sframe_key: got %x, want %x", key, want)
				}
				if want := rfc5869(p.hash, base, info("SFrame 1.0 Secret salt "), 12); !bytes.Equal(salt, want) {
					t.Errorf("sframe_salt: got %x, want %x", salt, want)
				}
				next, err := ratchetBaseKey(suite, base)
				if err != nil {
					t.Fatal(err)
				}
				if want := rfc5869(p.hash, base, "SFrame 1.0 Ratchet", p.nh); !bytes.Equal(next, want) {
					t.Errorf("ratcheted base key: got %x, want %x", next, want)
				}
			})
		}
	}
}

// ratchetPair returns a ratchet Sender and a Receiver that knows its current step.
func ratchetPair(t testing.TB, suite Suite, kid uint64, bits int) (*Sender, *Receiver) {
	t.Helper()
	key := testKey(fmt.Sprint("ratchet", kid))
	s, err := NewRatchetSender(suite, kid, bits, key)
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{}
	if err := r.AddRatchetKey(suite, kid, bits, key); err != nil {
		t.Fatal(err)
	}
	return s, r
}

func mustDecrypt(t testing.TB, r *Receiver, ct, want []byte) {
	t.Helper()
	got, err := r.Decrypt(nil, nil, ct)
	if err != nil || !bytes.Equal(got, want) {
		h, _, _ := ParseHeader(ct)
		t.Fatalf("Decrypt(%v): got %q, %v, want %q, nil", h, got, err, want)
	}
}

func TestRatchetFollow(t *testing.T) {
	tests := []struct {
		name  string
		suite Suite
		kid   uint64 // generation << bits | first step
		bits  int
		steps int
	}{
		{"R=4 wraps twice", DefaultSuite, 3<<4 | 0, 4, 40},
		{"R=4 starting mid-way", AES_128_CTR_HMAC_SHA256_80, 3<<4 | 13, 4, 20},
		{"R=1 alternates", AES_128_GCM_SHA256_128, 9 << 1, 1, 10},
		{"R=8 large generation", AES_128_CTR_HMAC_SHA256_32, 0xabcdef << 8, 8, 5},
		{"R=64 whole KID", DefaultSuite, 1 << 40, 64, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := ratchetPair(t, tt.suite, tt.kid, tt.bits)
			mask := ratchetMask(uint(tt.bits))
			var late []byte // a frame of the previous step, delivered after the next step's
			for step := range tt.steps {
				wantKID := tt.kid&^mask | (tt.kid+uint64(step))&mask
				if got := s.KID(); got != wantKID {
					t.Fatalf("step %d: KID: got %#x, want %#x", step, got, wantKID)
				}
				pt := []byte(fmt.Sprintf("step %d", step))
				a, b := mustEncrypt(t, s, nil, pt), mustEncrypt(t, s, nil, pt)
				if h, _, _ := ParseHeader(a); h.CTR != 0 {
					t.Fatalf("step %d: first CTR: got %d, want 0", step, h.CTR)
				}
				mustDecrypt(t, r, a, pt)
				if late != nil {
					mustDecrypt(t, r, late, []byte(fmt.Sprintf("step %d", step-1)))
				}
				late = b
				if err := s.Ratchet(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestRatchetSkipsAndLimits(t *testing.T) {
	s, r := ratchetPair(t, DefaultSuite, 5<<8, 8)
	mustDecrypt(t, r, mustEncrypt(t, s, nil, []byte("0")), []byte("0"))

	// Several steps at once.
	for range 3 {
		if err := s.Ratchet(); err != nil {
			t.Fatal(err)
		}
	}
	mustDecrypt(t, r, mustEncrypt(t, s, nil, []byte("3")), []byte("3"))

	// Further than MaxRatchetSteps (default 16) is an unknown KID...
	for range 17 {
		if err := s.Ratchet(); err != nil {
			t.Fatal(err)
		}
	}
	far := mustEncrypt(t, s, nil, []byte("20"))
	if _, err := r.Decrypt(nil, nil, far); err != ErrUnknownKID {
		t.Fatalf("17 steps ahead: got error %v, want ErrUnknownKID", err)
	}
	// ...unless the Receiver allows it.
	r.MaxRatchetSteps = 17
	mustDecrypt(t, r, far, []byte("20"))
}

// TestRatchetForgery checks that a frame claiming a later step that does not authenticate
// moves nothing: the current step still decrypts and the genuine later frame still works.
func TestRatchetForgery(t *testing.T) {
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			s, r := ratchetPair(t, suite, 1<<4, 4)
			cur := mustEncrypt(t, s, nil, []byte("cur"))
			cur2 := mustEncrypt(t, s, nil, []byte("cur2"))
			mustDecrypt(t, r, cur, []byte("cur"))
			if err := s.Ratchet(); err != nil {
				t.Fatal(err)
			}
			next := mustEncrypt(t, s, nil, []byte("next"))
			forged := bytes.Clone(next)
			forged[len(forged)-1] ^= 0x80
			if _, err := r.Decrypt(nil, nil, forged); err != ErrAuth {
				t.Fatalf("forged next-step frame: got error %v, want ErrAuth", err)
			}
			mustDecrypt(t, r, cur2, []byte("cur2"))
			mustDecrypt(t, r, next, []byte("next"))
		})
	}
}

// TestRatchetOldSteps checks how long old steps live: the previous step stays for late
// frames, with its replay window, until the current one is a window past its start; anything
// older is gone.
func TestRatchetOldSteps(t *testing.T) {
	s, r := ratchetPair(t, DefaultSuite, 0, 4)
	var frames [3][]byte
	for i := range frames {
		frames[i] = mustEncrypt(t, s, nil, []byte{byte(i)})
		if err := s.Ratchet(); err != nil {
			t.Fatal(err)
		}
	}
	mustDecrypt(t, r, frames[0], []byte{0})
	mustDecrypt(t, r, mustEncrypt(t, s, nil, []byte{3}), []byte{3}) // jumps to step 3
	if _, err := r.Decrypt(nil, nil, frames[2]); err == nil {
		t.Errorf("frame of step 2, skipped over: got nil error, want a rejection")
	}
	if _, err := r.Decrypt(nil, nil, frames[0]); err == nil {
		t.Errorf("frame of step 0 again: got nil error, want a rejection")
	}
	// Step 3 retained as previous after step 4.
	late := mustEncrypt(t, s, nil, []byte("late 3"))
	if err := s.Ratchet(); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, r, mustEncrypt(t, s, nil, []byte{4}), []byte{4})
	mustDecrypt(t, r, late, []byte("late 3"))
	if _, err := r.Decrypt(nil, nil, late); err != ErrReplay {
		t.Errorf("late frame of the previous step replayed: got error %v, want ErrReplay", err)
	}

	// Step 4 is retained after step 5 until step 5 has gone a replay window past its start.
	late = mustEncrypt(t, s, nil, []byte("late 4"))
	later := mustEncrypt(t, s, nil, []byte("later 4"))
	if err := s.Ratchet(); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, r, mustEncrypt(t, s, nil, []byte{5}), []byte{5})
	mustDecrypt(t, r, late, []byte("late 4"))
	if err := s.AdvanceCounter(ReplayWindow); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, r, mustEncrypt(t, s, nil, []byte{5}), []byte{5})
	if _, err := r.Decrypt(nil, nil, later); err == nil {
		t.Errorf("frame of step 4 after step 5 reached CTR %d: got nil error, want a rejection", ReplayWindow)
	}

	// The same when the first frame seen of a step is already a window past its start.
	late = mustEncrypt(t, s, nil, []byte("late 5"))
	if err := s.Ratchet(); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvanceCounter(ReplayWindow + 72); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, r, mustEncrypt(t, s, nil, []byte{6}), []byte{6})
	if _, err := r.Decrypt(nil, nil, late); err == nil {
		t.Errorf("frame of step 5 after step 6 started at CTR %d: got nil error, want a rejection", ReplayWindow+72)
	}
}

// TestReceiverManySenders puts a sender index in the generation bits, so that one Receiver
// follows several ratcheting senders that share a base key without their KIDs colliding.
func TestReceiverManySenders(t *testing.T) {
	const bits = 8
	key := testKey("meeting key")
	var r Receiver
	var senders []*Sender
	for idx := range uint64(4) {
		kid := idx << bits // generation = sender index, step 0
		s, err := NewRatchetSender(DefaultSuite, kid, bits, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddRatchetKey(DefaultSuite, kid, bits, key); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, s)
	}
	for round := range 3 {
		for idx, s := range senders {
			pt := []byte(fmt.Sprintf("sender %d round %d", idx, round))
			mustDecrypt(t, &r, mustEncrypt(t, s, nil, pt), pt)
			if idx%2 == 0 {
				if err := s.Ratchet(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// Removing one sender by any KID of its generation leaves the others working.
	r.RemoveKey(1<<bits | 0x7f)
	if _, err := r.Decrypt(nil, nil, mustEncrypt(t, senders[1], nil, []byte("x"))); err != ErrUnknownKID {
		t.Errorf("removed sender: got error %v, want ErrUnknownKID", err)
	}
	mustDecrypt(t, &r, mustEncrypt(t, senders[2], nil, []byte("y")), []byte("y"))
}

func TestRatchetResetsExhaustedCounter(t *testing.T) {
	s, r := ratchetPair(t, DefaultSuite, 0, 2)
	if err := s.AdvanceCounter(1<<64 - 1); err != nil {
		t.Fatal(err)
	}
	mustEncrypt(t, s, nil, nil)
	if _, err := s.Encrypt(nil, nil, nil); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("Encrypt: got error %v, want ErrCounterExhausted", err)
	}
	if err := s.Ratchet(); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, r, mustEncrypt(t, s, nil, []byte("fresh key")), []byte("fresh key"))
}

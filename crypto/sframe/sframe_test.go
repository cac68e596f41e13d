package sframe

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
)

// testKey returns a deterministic 32-byte base key; real keys come from crypto/rand (I5).
func testKey(seed string) []byte {
	k := sha256.Sum256([]byte(seed))
	return k[:]
}

// testPlaintext returns n bytes that are easy to spot in a buffer.
func testPlaintext(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0x30 + i%61)
	}
	return b
}

// pair returns a Sender and a Receiver sharing a static key for kid.
func pair(t testing.TB, suite Suite, kid uint64) (*Sender, *Receiver) {
	t.Helper()
	key := testKey(fmt.Sprint("pair", suite, kid))
	s, err := NewSender(suite, kid, key)
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{}
	if err := r.AddKey(suite, kid, key); err != nil {
		t.Fatal(err)
	}
	return s, r
}

func mustEncrypt(t testing.TB, s *Sender, metadata, pt []byte) []byte {
	t.Helper()
	ct, err := s.Encrypt(nil, metadata, pt)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return ct
}

func TestRoundTrip(t *testing.T) {
	kids := []uint64{0, 7, 8, 255, 256, 1<<16 + 1, 1 << 40, math.MaxUint64}
	sizes := []int{0, 1, 15, 16, 17, 511, 512, 513, 1200}
	// Each subtest sends one frame per size from its starting CTR; the last start ends on the
	// last CTR there is.
	ctrs := []uint64{0, 7, 8, 1<<16 - 1, 1 << 32, math.MaxUint64 - uint64(len(sizes)-1)}
	for _, suite := range allSuites {
		for _, kid := range kids {
			for _, ctr := range ctrs {
				t.Run(fmt.Sprintf("%v/kid=%d/ctr=%d", suite, kid, ctr), func(t *testing.T) {
					s, r := pair(t, suite, kid)
					if err := s.AdvanceCounter(ctr); err != nil {
						t.Fatal(err)
					}
					for i, n := range sizes {
						md := []byte(fmt.Sprintf("frame %d metadata", i))
						if i%2 == 0 {
							md = nil
						}
						pt := testPlaintext(n)
						ct := mustEncrypt(t, s, md, pt)
						want := Header{KID: kid, CTR: ctr + uint64(i)}
						h, hlen, err := ParseHeader(ct)
						if err != nil || h != want {
							t.Fatalf("size %d: header: got %v, %v, want %v", n, h, err, want)
						}
						if got, wantLen := len(ct), hlen+n+suite.Overhead(); got != wantLen {
							t.Errorf("size %d: ciphertext length: got %d, want %d", n, got, wantLen)
						}
						got, err := r.Decrypt(nil, md, ct)
						if err != nil || !bytes.Equal(got, pt) {
							t.Fatalf("size %d: Decrypt: got %d bytes, %v, want the %d plaintext bytes", n, len(got), err, n)
						}
					}
				})
			}
		}
	}
}

// TestAppendsToDst checks that both directions append after what dst already holds.
func TestAppendsToDst(t *testing.T) {
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			s, r := pair(t, suite, 9)
			pt := testPlaintext(100)
			prefix := []byte("prefix")
			ct, err := s.Encrypt(bytes.Clone(prefix), nil, pt)
			if err != nil || !bytes.HasPrefix(ct, prefix) {
				t.Fatalf("Encrypt: got %x, %v, want it to start with %x", ct, err, prefix)
			}
			got, err := r.Decrypt(bytes.Clone(prefix), nil, ct[len(prefix):])
			if err != nil || !bytes.Equal(got, append(bytes.Clone(prefix), pt...)) {
				t.Fatalf("Decrypt: got %x, %v, want prefix then plaintext", got, err)
			}
		})
	}
}

// TestTamper alters every bit position of every byte of the header, ciphertext, tag and
// metadata, truncates and extends the frame: every change must be rejected, must leave the
// Receiver able to decrypt the genuine frame afterwards, and must not panic.
func TestTamper(t *testing.T) {
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			s, r := pair(t, suite, 300)
			if err := s.AdvanceCounter(70000); err != nil {
				t.Fatal(err)
			}
			md := []byte("rtp header extension")
			pt := testPlaintext(40)
			ct := mustEncrypt(t, s, md, pt)
			reject := func(what string, md, ct []byte) {
				t.Helper()
				if got, err := r.Decrypt(nil, md, ct); err == nil {
					t.Errorf("%s: got plaintext %x, want an error", what, got)
				} else if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrUnknownKID) && !errors.Is(err, ErrMalformed) {
					t.Errorf("%s: got error %v, want ErrAuth, ErrUnknownKID or ErrMalformed", what, err)
				}
			}
			for i := range ct {
				for bit := range 8 {
					bad := bytes.Clone(ct)
					bad[i] ^= 1 << bit
					reject(fmt.Sprintf("ciphertext byte %d bit %d", i, bit), md, bad)
				}
			}
			for i := range md {
				for bit := range 8 {
					bad := bytes.Clone(md)
					bad[i] ^= 1 << bit
					reject(fmt.Sprintf("metadata byte %d bit %d", i, bit), bad, ct)
				}
			}
			for n := range len(ct) {
				reject(fmt.Sprintf("truncated to %d bytes", n), md, ct[:n])
			}
			reject("extended by a byte", md, append(bytes.Clone(ct), 0))
			reject("metadata dropped", nil, ct)
			reject("metadata extended", append(bytes.Clone(md), 0), ct)
			reject("metadata moved into the frame", nil, append(bytes.Clone(ct), md...))

			// A KID the receiver knows but under which the frame was not encrypted.
			other := testKey("other")
			s2, err := NewSender(suite, 300, other)
			if err != nil {
				t.Fatal(err)
			}
			reject("another key for the same KID", md, mustEncrypt(t, s2, md, pt))

			got, err := r.Decrypt(nil, md, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("genuine frame after the forgeries: got %x, %v, want the plaintext", got, err)
			}
		})
	}
}

// TestDecryptFailureLeaksNothing checks that a rejected frame leaves no plaintext in dst's
// spare capacity, nor in the ciphertext when decrypting in place.
func TestDecryptFailureLeaksNothing(t *testing.T) {
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			s, r := pair(t, suite, 1)
			pt := testPlaintext(300)
			ct := mustEncrypt(t, s, nil, pt)
			bad := bytes.Clone(ct)
			bad[len(bad)-1] ^= 0x01 // the tag

			dst := bytes.Repeat([]byte{0xee}, 1024)[:0]
			got, err := r.Decrypt(dst, nil, bad)
			if !errors.Is(err, ErrAuth) || got != nil {
				t.Fatalf("Decrypt: got %d bytes, %v, want nil, ErrAuth", len(got), err)
			}
			if spare := dst[:cap(dst)]; bytes.Contains(spare, pt[:16]) {
				t.Errorf("dst spare capacity holds plaintext after a failed Decrypt")
			}

			inPlace := bytes.Clone(bad)
			if got, err := r.Decrypt(inPlace[:0], nil, inPlace); !errors.Is(err, ErrAuth) || got != nil {
				t.Fatalf("Decrypt in place: got %d bytes, %v, want nil, ErrAuth", len(got), err)
			}
			if bytes.Contains(inPlace, pt[:16]) {
				t.Errorf("ciphertext buffer holds plaintext after a failed in-place Decrypt")
			}
		})
	}
}

func TestInPlace(t *testing.T) {
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			s, r := pair(t, suite, 1000)
			md := []byte("md")
			for _, n := range []int{0, 1, 100, 1200} {
				pt := testPlaintext(n)
				overhead := MaxHeaderLen + suite.Overhead()

				// Encrypt with the plaintext at the start of the buffer.
				buf := make([]byte, n, n+overhead)
				copy(buf, pt)
				ct, err := s.Encrypt(buf[:0], md, buf)
				if err != nil {
					t.Fatal(err)
				}
				if &ct[0] != &buf[:1][0] {
					t.Errorf("size %d: Encrypt in place did not reuse the buffer", n)
				}
				got, err := r.Decrypt(ct[:0], md, ct)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("size %d: Decrypt in place: got %x, %v, want %x", n, got, err, pt)
				}

				// Encrypt with room for the header reserved before the plaintext.
				buf = make([]byte, MaxHeaderLen+n, n+overhead)
				copy(buf[MaxHeaderLen:], pt)
				ct, err = s.Encrypt(buf[:0], md, buf[MaxHeaderLen:])
				if err != nil {
					t.Fatal(err)
				}
				got, err = r.Decrypt(nil, md, ct)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("size %d: Decrypt after reserved-room Encrypt: got %x, %v, want %x", n, got, err, pt)
				}

				// Metadata that is itself inside the output buffer.
				buf = make([]byte, 2*n+overhead+10)
				copy(buf, md)
				ct, err = s.Encrypt(buf[:0], buf[:len(md)], pt)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := r.Decrypt(nil, md, ct); err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("size %d: metadata aliasing dst: got %x, %v, want %x", n, got, err, pt)
				}
			}
		})
	}
}

func TestReplay(t *testing.T) {
	type delivery struct {
		ctr  uint64
		want error
	}
	tests := []struct {
		name    string
		deliver []delivery
	}{
		{"duplicate", []delivery{{0, nil}, {0, ErrReplay}, {1, nil}, {0, ErrReplay}, {1, ErrReplay}}},
		{"reordered within the window", []delivery{{5, nil}, {3, nil}, {4, nil}, {3, ErrReplay}, {5, ErrReplay}, {2, nil}}},
		{"window edge", []delivery{{200, nil}, {73, nil}, {72, ErrReplay}, {73, ErrReplay}}},
		{"jump clears the window", []delivery{{0, nil}, {1000, nil}, {0, ErrReplay}, {999, nil}, {872, ErrReplay}, {873, nil}}},
		{"jump of exactly 64", []delivery{{10, nil}, {74, nil}, {10, ErrReplay}, {11, nil}, {74, ErrReplay}}},
		{"jump of exactly 128", []delivery{{10, nil}, {138, nil}, {10, ErrReplay}, {11, nil}, {137, nil}}},
		{"first frame is late", []delivery{{500, nil}, {372, ErrReplay}, {373, nil}}},
		{"top of the counter space", []delivery{{math.MaxUint64 - 1, nil}, {math.MaxUint64, nil}, {math.MaxUint64 - 1, ErrReplay}, {math.MaxUint64 - 127, nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := pair(t, DefaultSuite, 5)
			// Encrypt each CTR once, in increasing order, then deliver in the table's order.
			frames := map[uint64][]byte{}
			ctrs := []uint64{}
			for _, d := range tt.deliver {
				ctrs = append(ctrs, d.ctr)
			}
			slices.Sort(ctrs)
			for _, c := range slices.Compact(ctrs) {
				if err := s.AdvanceCounter(c); err != nil {
					t.Fatal(err)
				}
				frames[c] = mustEncrypt(t, s, nil, []byte{byte(c)})
			}
			for i, d := range tt.deliver {
				got, err := r.Decrypt(nil, nil, frames[d.ctr])
				if err != d.want {
					t.Fatalf("delivery %d (CTR %d): got error %v, want %v", i, d.ctr, err, d.want)
				}
				if err == nil && !bytes.Equal(got, []byte{byte(d.ctr)}) {
					t.Fatalf("delivery %d (CTR %d): got %x, want %x", i, d.ctr, got, []byte{byte(d.ctr)})
				}
			}
		})
	}
}

func TestReplayWindowIsPerKID(t *testing.T) {
	key := testKey("shared")
	var r Receiver
	var senders []*Sender
	for kid := range uint64(3) {
		s, err := NewSender(DefaultSuite, kid, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddKey(DefaultSuite, kid, key); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, s)
	}
	// Every KID may use CTR 0 once.
	for kid, s := range senders {
		ct := mustEncrypt(t, s, nil, []byte("x"))
		if _, err := r.Decrypt(nil, nil, ct); err != nil {
			t.Errorf("KID %d, CTR 0: got error %v, want nil", kid, err)
		}
		if _, err := r.Decrypt(nil, nil, ct); err != ErrReplay {
			t.Errorf("KID %d, CTR 0 again: got error %v, want ErrReplay", kid, err)
		}
	}
}

func TestUnknownKID(t *testing.T) {
	s, r := pair(t, DefaultSuite, 1)
	other, err := NewSender(DefaultSuite, 2, testKey("pair"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Decrypt(nil, nil, mustEncrypt(t, other, nil, []byte("x"))); err != ErrUnknownKID {
		t.Errorf("KID 2: got error %v, want ErrUnknownKID", err)
	}
	var empty Receiver
	if _, err := empty.Decrypt(nil, nil, mustEncrypt(t, s, nil, []byte("x"))); err != ErrUnknownKID {
		t.Errorf("empty Receiver: got error %v, want ErrUnknownKID", err)
	}
	ct := mustEncrypt(t, s, nil, []byte("x"))
	r.RemoveKey(1)
	if _, err := r.Decrypt(nil, nil, ct); err != ErrUnknownKID {
		t.Errorf("after RemoveKey: got error %v, want ErrUnknownKID", err)
	}
}

func TestCounterExhaustion(t *testing.T) {
	s, r := pair(t, AES_128_GCM_SHA256_128, 3)
	if err := s.AdvanceCounter(math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	ct := mustEncrypt(t, s, nil, []byte("last"))
	if h, _, _ := ParseHeader(ct); h.CTR != math.MaxUint64 {
		t.Errorf("last frame: got CTR %d, want %d", h.CTR, uint64(math.MaxUint64))
	}
	if got, err := r.Decrypt(nil, nil, ct); err != nil || string(got) != "last" {
		t.Errorf("Decrypt last frame: got %q, %v, want \"last\", nil", got, err)
	}
	for range 2 { // and it stays refused
		if got, err := s.Encrypt(nil, nil, []byte("wrapped")); !errors.Is(err, ErrCounterExhausted) || got != nil {
			t.Errorf("Encrypt after the last CTR: got %x, %v, want nil, ErrCounterExhausted", got, err)
		}
	}
	if _, err := s.NextCounter(); !errors.Is(err, ErrCounterExhausted) {
		t.Errorf("NextCounter: got error %v, want ErrCounterExhausted", err)
	}
	if err := s.AdvanceCounter(0); !errors.Is(err, ErrCounterExhausted) {
		t.Errorf("AdvanceCounter(0): got error %v, want ErrCounterExhausted", err)
	}
}

func TestAdvanceCounter(t *testing.T) {
	s, _ := pair(t, DefaultSuite, 3)
	if err := s.AdvanceCounter(10); err != nil {
		t.Fatal(err)
	}
	mustEncrypt(t, s, nil, nil)
	if got, err := s.NextCounter(); got != 11 || err != nil {
		t.Errorf("NextCounter: got %d, %v, want 11, nil", got, err)
	}
	if err := s.AdvanceCounter(10); err == nil {
		t.Errorf("AdvanceCounter(10) after CTR 10 was used: got nil, want an error")
	}
	if err := s.AdvanceCounter(11); err != nil {
		t.Errorf("AdvanceCounter(11), the next counter: got %v, want nil", err)
	}
}

// TestConcurrentEncrypt checks that concurrent callers never get the same CTR.
func TestConcurrentEncrypt(t *testing.T) {
	s, _ := pair(t, DefaultSuite, 1)
	const workers, each = 8, 200
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var dst []byte
			for range each {
				var err error
				dst, err = s.Encrypt(dst[:0], nil, []byte("frame"))
				if err != nil {
					t.Error(err)
					return
				}
				h, _, _ := ParseHeader(dst)
				mu.Lock()
				if seen[h.CTR] {
					t.Errorf("CTR %d used twice", h.CTR)
				}
				seen[h.CTR] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Errorf("got %d distinct CTRs, want %d", len(seen), workers*each)
	}
}

func TestSetupErrors(t *testing.T) {
	key := testKey("k")
	tests := []struct {
		name string
		do   func() error
		want error // nil: any error
	}{
		{"sender, suite 0", func() error { _, err := NewSender(0, 1, key); return err }, ErrUnsupportedSuite},
		{"sender, private-use suite", func() error { _, err := NewSender(0xf000, 1, key); return err }, ErrUnsupportedSuite},
		{"sender, empty key", func() error { _, err := NewSender(DefaultSuite, 1, nil); return err }, nil},
		{"sender, 15-byte key", func() error { _, err := NewSender(DefaultSuite, 1, key[:15]); return err }, nil},
		{"ratchet sender, 0 bits", func() error { _, err := NewRatchetSender(DefaultSuite, 1, 0, key); return err }, nil},
		{"ratchet sender, 65 bits", func() error { _, err := NewRatchetSender(DefaultSuite, 1, 65, key); return err }, nil},
		{"receiver, suite 6", func() error { return new(Receiver).AddKey(6, 1, key) }, ErrUnsupportedSuite},
		{"receiver, short key", func() error { return new(Receiver).AddKey(DefaultSuite, 1, key[:8]) }, nil},
		{"receiver, ratchet bits -1", func() error { return new(Receiver).AddRatchetKey(DefaultSuite, 1, -1, key) }, nil},
		{"static sender ratchets", func() error {
			s, err := NewSender(DefaultSuite, 1, key)
			if err != nil {
				return nil
			}
			return s.Ratchet()
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("got error %v, want %v", err, cmp.Or[error](tt.want, errors.New("an error")))
			}
		})
	}
}

func TestDuplicateKID(t *testing.T) {
	key := testKey("k")
	tests := []struct {
		name  string
		setup func(r *Receiver) error
		add   func(r *Receiver) error
	}{
		{"static twice",
			func(r *Receiver) error { return r.AddKey(DefaultSuite, 1, key) },
			func(r *Receiver) error { return r.AddKey(DefaultSuite, 1, key) }},
		{"static inside a ratchet generation",
			func(r *Receiver) error { return r.AddRatchetKey(DefaultSuite, 0x120, 4, key) },
			func(r *Receiver) error { return r.AddKey(DefaultSuite, 0x12f, key) }},
		{"ratchet covering a static key",
			func(r *Receiver) error { return r.AddKey(DefaultSuite, 0x12f, key) },
			func(r *Receiver) error { return r.AddRatchetKey(DefaultSuite, 0x120, 4, key) }},
		{"same generation twice",
			func(r *Receiver) error { return r.AddRatchetKey(DefaultSuite, 0x120, 4, key) },
			func(r *Receiver) error { return r.AddRatchetKey(DefaultSuite, 0x125, 4, key) }},
		{"wider ratchet covering a narrower one",
			func(r *Receiver) error { return r.AddRatchetKey(DefaultSuite, 0x120, 4, key) },
			func(r *Receiver) error { return r.AddRatchetKey(DefaultSuite, 0x100, 8, key) }},
		{"narrower ratchet inside a wider one",
			func(r *Receiver) error { return r.AddRatchetKey(DefaultSuite, 0x100, 8, key) },
			func(r *Receiver) error { return r.AddRatchetKey(DefaultSuite, 0x120, 4, key) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Receiver
			if err := tt.setup(&r); err != nil {
				t.Fatal(err)
			}
			if err := tt.add(&r); !errors.Is(err, ErrDuplicateKID) {
				t.Errorf("got error %v, want ErrDuplicateKID", err)
			}
		})
	}
}

// TestConcurrentDecrypt delivers every frame from several goroutines at once: each must be
// accepted exactly once. Frames go in batches narrower than the replay window, so that no
// interleaving can make a frame too old.
func TestConcurrentDecrypt(t *testing.T) {
	s, r := pair(t, AES_128_CTR_HMAC_SHA256_64, 1)
	frames := make([][]byte, 512)
	for i := range frames {
		frames[i] = mustEncrypt(t, s, []byte("md"), []byte{byte(i)})
	}
	const batch, workers = ReplayWindow / 2, 4
	accepted := make([]int, len(frames))
	var mu sync.Mutex
	for start := 0; start < len(frames); start += batch {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range batch {
					j := start + (i+w*batch/workers)%batch // workers start at different frames
					_, err := r.Decrypt(nil, []byte("md"), frames[j])
					if err != nil && err != ErrReplay {
						t.Errorf("frame %d: got error %v, want nil or ErrReplay", j, err)
					}
					if err == nil {
						mu.Lock()
						accepted[j]++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
	}
	for i, n := range accepted {
		if n != 1 {
			t.Errorf("frame %d: accepted %d times, want 1", i, n)
		}
	}
}

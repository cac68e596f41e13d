package sframe

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// boundaryValues are the values at which a KID or CTR changes encoding length.
func boundaryValues() []uint64 {
	v := []uint64{0, 1, 6, 7, 8, 9, 255}
	for n := 1; n < 8; n++ {
		v = append(v, 1<<(8*n)-1, 1<<(8*n), 1<<(8*n)+1)
	}
	return append(v, math.MaxUint64-1, math.MaxUint64)
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, kid := range boundaryValues() {
		for _, ctr := range boundaryValues() {
			h := Header{KID: kid, CTR: ctr}
			enc := h.Append([]byte{0xaa}) // appends, keeping what is there
			if enc[0] != 0xaa || len(enc) != 1+h.Len() {
				t.Fatalf("%v: Append: got %x, want 0xaa then %d header bytes", h, enc, h.Len())
			}
			enc = enc[1:]
			wantLen := 1 + fieldLen(kid) + fieldLen(ctr)
			if len(enc) != wantLen {
				t.Errorf("%v: got %d bytes, want %d", h, len(enc), wantLen)
			}
			got, n, err := ParseHeader(enc)
			if err != nil || got != h || n != len(enc) {
				t.Errorf("ParseHeader(%x): got %v, %d, %v, want %v, %d, nil", enc, got, n, err, h, len(enc))
			}
		}
	}
}

func TestFieldLen(t *testing.T) {
	tests := []struct {
		v    uint64
		want int
	}{
		{0, 0}, {7, 0}, {8, 1}, {255, 1}, {256, 2}, {65535, 2}, {65536, 3},
		{1<<56 - 1, 7}, {1 << 56, 8}, {math.MaxUint64, 8},
	}
	for _, tt := range tests {
		if got := fieldLen(tt.v); got != tt.want {
			t.Errorf("fieldLen(%d): got %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestParseHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, errEmptyHeader},
		{"KID length 1, no bytes", []byte{0x80}, errTruncatedKID},
		{"KID length 8, 7 bytes", []byte{0xf0, 1, 2, 3, 4, 5, 6, 7}, errTruncatedKID},
		{"CTR length 1, no bytes", []byte{0x08}, errTruncatedCTR},
		{"CTR length 8, 7 bytes", []byte{0x0f, 1, 2, 3, 4, 5, 6, 7}, errTruncatedCTR},
		{"KID and CTR, CTR short", []byte{0x99, 0x01, 0x23, 0x45}, errTruncatedCTR},
		{"KID 7 in an extra byte", []byte{0x80, 0x07}, errNonMinimalKID},
		{"KID 0 in an extra byte", []byte{0x80, 0x00}, errNonMinimalKID},
		{"KID 255 in 2 bytes", []byte{0x90, 0x00, 0xff}, errNonMinimalKID},
		{"KID 1 in 8 bytes", []byte{0xf0, 0, 0, 0, 0, 0, 0, 0, 1}, errNonMinimalKID},
		{"CTR 5 in an extra byte", []byte{0x08, 0x05}, errNonMinimalCTR},
		{"CTR 256 in 3 bytes", []byte{0x0a, 0x00, 0x01, 0x00}, errNonMinimalCTR},
		{"CTR 0 in 8 bytes", []byte{0x0f, 0, 0, 0, 0, 0, 0, 0, 0}, errNonMinimalCTR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := ParseHeader(tt.in)
			if err != tt.want || !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseHeader(%x): got error %v, want %v (an ErrMalformed)", tt.in, err, tt.want)
			}
			if h != (Header{}) || n != 0 {
				t.Errorf("ParseHeader(%x): got %v, %d with the error, want zero values", tt.in, h, n)
			}
		})
	}
}

// TestParseHeaderAllConfigBytes checks every config byte, followed by enough non-zero bytes:
// each parses to a header whose encoding is exactly the consumed prefix.
func TestParseHeaderAllConfigBytes(t *testing.T) {
	tail := bytes.Repeat([]byte{0x5a}, 16)
	for cfg := range 256 {
		in := append([]byte{byte(cfg)}, tail...)
		h, n, err := ParseHeader(in)
		if err != nil {
			t.Errorf("config %#02x: got error %v, want nil", cfg, err)
			continue
		}
		if got := h.Append(nil); !bytes.Equal(got, in[:n]) {
			t.Errorf("config %#02x: re-encoded %v as %x, want %x", cfg, h, got, in[:n])
		}
	}
}

func TestSuiteString(t *testing.T) {
	tests := []struct {
		s    Suite
		want string
	}{
		{AES_128_CTR_HMAC_SHA256_80, "AES_128_CTR_HMAC_SHA256_80"},
		{AES_256_GCM_SHA512_128, "AES_256_GCM_SHA512_128"},
		{0, "Suite(0x0000)"},
		{0xf000, "Suite(0xf000)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Suite(%d).String(): got %q, want %q", uint16(tt.s), got, tt.want)
		}
	}
	for _, s := range allSuites {
		want := map[Suite]int{1: 10, 2: 8, 3: 4, 4: 16, 5: 16}[s]
		if got := s.Overhead(); got != want {
			t.Errorf("%v.Overhead(): got %d, want %d", s, got, want)
		}
	}
}

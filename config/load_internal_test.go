package config

import (
	"errors"
	"io"
	"testing"
)

// zeros is an endless reader, as /dev/zero is.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

// TestReadLimited: a file that grows after it was checked, or an endless one, is read only up
// to the limit.
func TestReadLimited(t *testing.T) {
	z := &zeros{}
	_, err := readLimited("grows.yaml", z)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want an error wrapping ErrTooLarge", err)
	}
	if want := "read config: grows.yaml is larger than the config size limit of 16 MiB"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if z.n > 2*MaxSize {
		t.Errorf("read %d bytes, want at most about MaxSize (%d)", z.n, MaxSize)
	}
	data, err := readLimited("small.yaml", io.LimitReader(&zeros{}, MaxSize))
	if err != nil || len(data) != MaxSize {
		t.Errorf("got %d bytes, %v; want MaxSize bytes and no error", len(data), err)
	}
}

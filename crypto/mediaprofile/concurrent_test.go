package mediaprofile

import (
	"sync"
	"testing"
)

// TestConcurrent runs the re-key paths (Rekey, Ratchet, AddEpoch, RemoveEpoch) concurrently
// with Seal and Open; run it under -race.
func TestConcurrent(t *testing.T) {
	k1, k2 := epochKey(t, 1), epochKey(t, 2)
	s, r := newPair(t, Config{}, k1)
	if err := r.AddEpoch(k2); err != nil {
		t.Fatal(err)
	}
	wires := make(chan []byte, 64)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		defer close(wires)
		for i := range 400 {
			w, err := s.Seal(nil, CodecVP8, vp8Delta(100+i))
			if err != nil {
				t.Error(err)
				return
			}
			wires <- w
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 40 {
			var err error
			switch i % 3 {
			case 0:
				err = s.Ratchet()
			case 1:
				err = s.Rekey(k2)
			default:
				err = s.Rekey(k1)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for w := range wires {
			if _, err := r.Open(nil, CodecVP8, w); err != nil {
				t.Errorf("open: %v", err)
			}
			_ = r.Epochs()
		}
	}()
	wg.Wait()
	r.RemoveEpoch(1)
	if err := r.AddEpoch(k1); err != nil {
		t.Fatal(err)
	}
}

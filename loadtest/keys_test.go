package loadtest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/internal/leaktest"
)

// TestKeyringRotation: a new epoch reaches every opener and sealer, the session is told it
// re-keyed, and frames of the old and the new epoch both open during the overlap.
func TestKeyringRotation(t *testing.T) {
	leaktest.Check(t)
	p := MediaProfile{}
	k1, k2 := newKey(t, 1), newKey(t, 2)
	ring := newKeyring(k1)
	op := p.NewOpener()
	if err := ring.addOpener(op); err != nil {
		t.Fatal(err)
	}
	s, err := p.NewSealer(ring.current())
	if err != nil {
		t.Fatal(err)
	}
	var rekeyed atomic.Int32
	ring.onRekey = func() { rekeyed.Add(1) }
	ring.addSealer(s)
	frame := AppendFrame(nil, Frame{Kind: Audio, Size: 40}, 0, 0)
	old, _ := s.Seal(nil, Audio, frame)

	// The refresher fetches when woken, and takes only a later epoch.
	fetches := make(chan e2ee.EpochKey, 2)
	fetches <- k2
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ring.refresh(ctx, time.Time{}, func(context.Context) (e2ee.EpochKey, time.Time, error) { return <-fetches, time.Time{}, nil },
			func(err error) { t.Error(err) })
	}()
	ring.wake()
	for ring.current().Epoch() != 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if err := ring.update(k1); err != nil || ring.current().Epoch() != 2 {
		t.Errorf("an older epoch was taken: epoch %d, %v", ring.current().Epoch(), err)
	}
	if rekeyed.Load() != 1 || ring.epochs != 1 {
		t.Errorf("rekeyed %d times, %d new epochs; want 1 and 1", rekeyed.Load(), ring.epochs)
	}
	fresh, _ := s.Seal(nil, Audio, frame)
	for name, f := range map[string][]byte{"old epoch": old, "new epoch": fresh} {
		if _, err := op.Open(nil, Audio, f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

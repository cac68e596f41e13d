package sim

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestQueueOrder: events come out by time, ties in the order they were pushed, also when
// pushed into the bucket being drained; none past the horizon.
func TestQueueOrder(t *testing.T) {
	q := newQueue(10 * time.Second)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		q.push(r.Int64N(int64(10*time.Second)), evJoin, int32(i))
	}
	q.push(int64(13*time.Second), evJoin, -1) // past the horizon (and its slack): dropped
	last := event{at: -1}
	n := 0
	for {
		e, ok := q.pop()
		if !ok {
			break
		}
		if e.idx == -1 {
			t.Fatalf("got an event past the horizon")
		}
		if before(&e, &last) {
			t.Fatalf("event %+v came after %+v", e, last)
		}
		if n%10 == 0 {
			// Into the current bucket, at the current time and later: after what is due.
			q.push(e.at, evLeave, int32(2000+n))
			q.push(e.at+int64(time.Millisecond), evLeave, int32(3000+n))
		}
		last = e
		n++
	}
	if n < 1000+200 {
		t.Errorf("got %d events, want at least 1200", n)
	}
}

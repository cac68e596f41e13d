package sim

import (
	"cmp"
	"math/rand/v2"
	"slices"
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

// TestSortBucket: big buckets (the radix sort) come out by (at, seq) like a comparison sort
// of the same events, with many ties and with digits all equal.
func TestSortBucket(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	base := int64(7 * time.Second)
	var spare []event
	for _, c := range []struct {
		n      int
		spread int64 // the events' at within the second: [0, spread)
	}{{255, 1e9}, {256, 1e9}, {5000, 1e9}, {5000, 50}, {5000, 1 << 20}, {3000, 1}, {70000, 1e9}} {
		b := make([]event, c.n)
		for i := range b {
			at := base + r.Int64N(c.spread)
			if c.spread > 1000 && i%3 == 0 {
				at = base + r.Int64N(c.spread/1000)*1000 // ties in the low digits
			}
			b[i] = event{at: at, seq: uint64(i), idx: int32(i)}
		}
		want := slices.Clone(b)
		slices.SortFunc(want, func(x, y event) int {
			if x.at != y.at {
				return cmp.Compare(x.at, y.at)
			}
			return cmp.Compare(x.seq, y.seq)
		})
		var got []event
		got, spare = sortBucket(b, spare, base)
		if !slices.Equal(got, want) {
			t.Errorf("%d events within %d ns: not in (at, seq) order", c.n, c.spread)
		}
	}
}

package sim

import (
	"cmp"
	"slices"
	"time"
)

// Event kinds, in no particular order: ties at one instant are broken by the order events were
// scheduled (seq), which is deterministic.
const (
	evReport   uint8 = iota // the DC agents' load reports
	evMinute                // a minute boundary: close a row, generate the next minute's meetings
	evScenario              // a scenario event (idx: its index)
	evMeeting               // a meeting starts (idx: meeting slot)
	evJoin                  // a participant joins or rejoins (idx: participant slot)
	evLeave                 // a participant leaves (idx: participant slot)
)

// event is 24 bytes: at peak a Zoom-scale day holds millions of them.
type event struct {
	at   int64 // nanoseconds since the scenario's start
	seq  uint64
	idx  int32
	kind uint8
}

// queue is a calendar (bucket) queue: one bucket per second of simulated time, each sorted
// only when its second comes. Pushing is O(1), popping O(log b) for a bucket of b events; no
// heap over millions of pending events, no goroutine per participant. Events pushed into the
// second being drained (a meeting's host joins the instant it starts) go to a small heap
// beside it, not into the sorted bucket, which at Zoom scale holds tens of thousands of
// events: an insertion there would move half of them.
type queue struct {
	buckets [][]event
	cur     []event // the bucket being drained, sorted
	late    []event // a min-heap of the events pushed into cur's second
	pos     int
	sec     int     // index of cur
	spare   []event // sortBucket's other buffer
	seq     uint64
	n       int // pending events
}

func newQueue(horizon time.Duration) *queue {
	return &queue{buckets: make([][]event, int(horizon/time.Second)+2), sec: -1}
}

// push schedules e; events past the horizon are dropped (the simulation ends first).
func (q *queue) push(at int64, kind uint8, idx int32) {
	e := event{at: at, seq: q.seq, idx: idx, kind: kind}
	q.seq++
	b := int(at / int64(time.Second))
	if b >= len(q.buckets) || at < 0 {
		return
	}
	q.n++
	if b <= q.sec {
		q.late = append(q.late, e)
		up(q.late, len(q.late)-1)
		return
	}
	// Each bucket grows from nothing, to at most twice what it holds. (Drained buckets are
	// not handed to new ones: a peak second's bucket given to a second that gets a handful
	// of events is slack, and at full scale the pending buckets held sixteen times their
	// events that way.)
	q.buckets[b] = append(q.buckets[b], e)
}

func before(a, b *event) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

// pop returns the next event, or false when none is left.
func (q *queue) pop() (event, bool) {
	for q.pos >= len(q.cur) {
		if len(q.late) > 0 {
			return q.popLate(), true
		}
		q.cur = nil
		q.sec++
		if q.sec >= len(q.buckets) {
			return event{}, false
		}
		q.cur, q.buckets[q.sec], q.pos = q.buckets[q.sec], nil, 0
		q.cur, q.spare = sortBucket(q.cur, q.spare, int64(q.sec)*int64(time.Second))
	}
	if len(q.late) > 0 && before(&q.late[0], &q.cur[q.pos]) {
		return q.popLate(), true
	}
	e := q.cur[q.pos]
	q.pos++
	q.n--
	return e, true
}

// sortBucket sorts the events of the second from base by (at, seq) and returns them, and a
// buffer for the next call. A bucket is in push order, which is seq order, so a stable sort
// by at is enough: a radix sort on the nanosecond within the second (30 bits, three passes
// of 10, a pass skipped when all its digits are the same), linear where a comparison sort
// was a sixth of the demand side's time. Small buckets are sorted by comparison.
func sortBucket(b, spare []event, base int64) (sorted, next []event) {
	if len(b) < 256 {
		slices.SortFunc(b, func(x, y event) int {
			if x.at != y.at {
				return cmp.Compare(x.at, y.at)
			}
			return cmp.Compare(x.seq, y.seq)
		})
		return b, spare
	}
	const bits, passes = 10, 3
	const digits = 1 << bits
	var count [passes][digits]int32
	for i := range b {
		off := uint64(b[i].at - base)
		for p := range passes {
			count[p][off>>(p*bits)&(digits-1)]++
		}
	}
	if cap(spare) < len(b) {
		spare = make([]event, len(b))
	}
	src, dst := b, spare[:len(b)]
	for p := range passes {
		c := &count[p]
		if c[uint64(src[0].at-base)>>(p*bits)&(digits-1)] == int32(len(src)) {
			continue // every event has this digit
		}
		var sum int32
		for d := range c {
			c[d], sum = sum, sum+c[d]
		}
		for i := range src {
			d := uint64(src[i].at-base) >> (p * bits) & (digits - 1)
			dst[c[d]] = src[i]
			c[d]++
		}
		src, dst = dst, src
	}
	return src, dst[:0]
}

// ahead is up to n of the events of the bucket being drained, from the skip-th after the next.
func (q *queue) ahead(skip, n int) []event {
	lo := q.pos + skip
	if lo >= len(q.cur) {
		return nil
	}
	return q.cur[lo:min(lo+n, len(q.cur))]
}

func (q *queue) popLate() event {
	h := q.late
	e := h[0]
	n := len(h) - 1
	h[0] = h[n]
	q.late = h[:n]
	down(q.late, 0)
	q.n--
	return e
}

// up and down keep h a binary min-heap by (at, seq).
func up(h []event, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !before(&h[i], &h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func down(h []event, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && before(&h[r], &h[l]) {
			c = r
		}
		if !before(&h[c], &h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

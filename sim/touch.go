package sim

// The directory side's records (participants and meeting slots) are gigabytes at full scale,
// read at random: played one by one, each order waits for its own cache misses in turn, and
// that wait was a quarter of the directory side's time at x0.3. The toucher reads the records of
// orders a few windows ahead, in two stages a window apart (the participant, then its
// meeting's slot), so that the misses of a window overlap each other and the work in between,
// and the records are in the cache when their orders are played. It changes nothing but
// timing.

// touchWindow is how many orders a toucher step reads; touchLead how many windows ahead of
// the one being played it reads the participants.
const (
	touchWindow = 16
	touchLead   = 2
)

type toucher struct {
	ms   [touchWindow]int32 // stage 2: the meeting slots of the last window read
	nms  int
	sink int64 // what was read, kept so that the reads are made
}

// window is the c-th window of batch, empty past its end.
func window(batch []order, c int) []order {
	lo := c * touchWindow
	if lo >= len(batch) {
		return nil
	}
	return batch[lo:min(lo+touchWindow, len(batch))]
}

// step reads the slots of the meetings the last step found, and the participants of w.
func (t *toucher) step(s *sim, w []order) {
	sink := t.sink
	slots := s.table.slots
	for _, m := range t.ms[:t.nms] {
		if int(m) < len(slots) {
			sink += slots[m].rev // a slot is a cache line
		}
	}
	t.nms = 0
	for i := range w {
		o := &w[i]
		switch o.kind {
		case evJoin, evLeave:
			if int(o.idx) < len(s.parts) {
				t.ms[t.nms] = s.parts[o.idx].meeting
				t.nms++
			}
		case evPart:
			if int(o.idx) < len(s.parts) {
				sink += s.parts[o.idx].leaveAt
			}
		case evMeeting:
			t.ms[t.nms] = o.idx
			t.nms++
		}
	}
	t.sink = sink
}

package sframe

// ReplayWindow is how many counters wide each KID's replay window is: a frame 128 or more below
// the highest CTR accepted for its KID is rejected as too old. See the package documentation.
const ReplayWindow = 128

// replayWindow is a sliding anti-replay window over CTR values, in the manner of RFC 3711
// section 3.3.2 (RFC 9605 section 9.3 suggests it). Bit i of seen records whether top-i was
// accepted. The zero value has accepted nothing.
type replayWindow struct {
	top  uint64    // highest accepted CTR, when any
	seen [2]uint64 // 128-bit map; seen[0] bit 0 is top
	any  bool
}

// check reports whether ctr may be accepted: newer than top, or inside the window and unseen.
func (w *replayWindow) check(ctr uint64) bool {
	if !w.any || ctr > w.top {
		return true
	}
	d := w.top - ctr
	if d >= ReplayWindow {
		return false
	}
	return w.seen[d/64]&(1<<(d%64)) == 0
}

// accept records ctr, which check allowed and which authenticated.
func (w *replayWindow) accept(ctr uint64) {
	switch {
	case !w.any:
		w.any, w.top, w.seen = true, ctr, [2]uint64{1, 0}
	case ctr > w.top:
		s := ctr - w.top
		switch {
		case s >= 128:
			w.seen = [2]uint64{}
		case s >= 64:
			w.seen = [2]uint64{0, w.seen[0] << (s - 64)}
		default:
			w.seen = [2]uint64{w.seen[0] << s, w.seen[1]<<s | w.seen[0]>>(64-s)}
		}
		w.seen[0] |= 1
		w.top = ctr
	default:
		d := w.top - ctr
		w.seen[d/64] |= 1 << (d % 64)
	}
}

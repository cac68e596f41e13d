package sframe

import "unsafe"

// sliceForAppend extends in by n bytes, reusing its capacity when it can, and returns the
// whole slice and the n new bytes (as the standard library's AEADs do).
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}

// anyOverlap reports whether x and y share any memory, as crypto/internal/alias does; it lets
// Encrypt and Decrypt work in place instead of tripping the AEADs' overlap checks.
func anyOverlap(x, y []byte) bool {
	return len(x) > 0 && len(y) > 0 &&
		uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}

package policy

import "math/bits"

// Set is a bitset of small non-negative indexes (datacenters, regions, countries).
type Set []uint64

// NewSet returns an empty set able to hold 0 <= i < n.
func NewSet(n int) Set { return make(Set, (n+63)/64) }

// Has reports whether i is in s.
func (s Set) Has(i int) bool {
	w := i >> 6
	return i >= 0 && w < len(s) && s[w]&(1<<(uint(i)&63)) != 0
}

// Add puts i in s; s must be large enough.
func (s Set) Add(i int) { s[i>>6] |= 1 << (uint(i) & 63) }

// Len is the number of members.
func (s Set) Len() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

package ipam

// Slots number the addresses a pool may hand out, in address order and with
// no gaps, so that a used set can be kept as runs of consecutive slots even
// when the pool skips every .0 and .255. Skipping by numbering, rather than by
// testing candidates, keeps "lowest free" a single lookup: a pool full but for
// its .0 and .255 addresses would otherwise cost one step per /24.
type slots struct{ avoidBuggy bool }

// before is the number of slots below address n (n may be 1<<32).
func (s slots) before(n uint64) uint64 {
	if !s.avoidBuggy {
		return n
	}
	// Each /24 holds 254 slots: .1 to .254.
	return n>>8*254 + max(n&0xff, 1) - 1
}

// of gives a's slot, or false when a is never handed out.
func (s slots) of(a uint32) (uint32, bool) {
	if s.avoidBuggy && (a&0xff == 0 || a&0xff == 0xff) {
		return 0, false
	}
	return uint32(s.before(uint64(a))), true
}

// addr is the address of slot i.
func (s slots) addr(i uint32) uint32 {
	if !s.avoidBuggy {
		return i
	}
	return i/254<<8 | (i%254 + 1)
}

// span gives the slots [lo, hi) of the addresses in r.
func (s slots) span(r Range) (lo, hi uint64) {
	return s.before(uint64(u32(r.First))), s.before(uint64(u32(r.Last)) + 1)
}

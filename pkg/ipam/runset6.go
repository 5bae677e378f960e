package ipam

import "math/rand/v2"

// runSet6 is runSet for IPv6 addresses: a set of 128-bit numbers kept as
// maximal runs of consecutive numbers in a treap keyed by run start. Time
// and memory follow the number of runs, never the width of the numbers they
// cover. It is a copy of runSet with wider keys rather than a generic one, so
// that the IPv4 allocator keeps its plain uint32 comparisons.
type runSet6 struct {
	root  *run6
	spare *run6 // the last run removed, reused so that churn at one spot does not allocate
}

// run6 is the treap node for the numbers [start, end].
type run6 struct {
	start, end  u128
	prio        uint32 // max-heap order keeps the treap balanced
	left, right *run6
}

// nextFree is the lowest number >= x not in the set; ok is false when every
// number from x to the top of the space is in it.
func (s *runSet6) nextFree(x u128) (n u128, ok bool) {
	if r := s.floor(x); r != nil && !r.end.less(x) {
		return r.end.inc(), r.end != maxU128
	}
	return x, true
}

// add inserts x, which must not be in the set, merging it with its neighbours.
func (s *runSet6) add(x u128) {
	prev := s.floor(x) // ends before x, since x is free
	var next *run6
	if x != maxU128 {
		next = s.find(x.inc())
	}
	joinPrev := prev != nil && prev.end.inc() == x
	switch {
	case joinPrev && next != nil:
		prev.end = next.end
		s.drop(next)
	case joinPrev:
		prev.end = x
	case next != nil:
		next.start = x // still between its neighbours: order holds
	default:
		s.insert(x, x)
	}
}

// remove deletes x, which must be in the set, splitting its run if needed.
func (s *runSet6) remove(x u128) {
	r := s.floor(x)
	switch {
	case r.start == r.end:
		s.drop(r)
	case x == r.start:
		r.start = r.start.inc()
	case x == r.end:
		r.end = r.end.dec()
	default:
		end := r.end
		r.end = x.dec()
		s.insert(x.inc(), end)
	}
}

// drop removes run r from the tree and keeps it, emptied, for reuse.
func (s *runSet6) drop(r *run6) {
	s.root = removeRun6(s.root, r.start)
	*r = run6{}
	s.spare = r
}

// floor is the run with the greatest start <= x.
func (s *runSet6) floor(x u128) *run6 {
	var best *run6
	for t := s.root; t != nil; {
		if !x.less(t.start) {
			best, t = t, t.right
		} else {
			t = t.left
		}
	}
	return best
}

// find is the run starting at x.
func (s *runSet6) find(x u128) *run6 {
	t := s.root
	for t != nil && t.start != x {
		if x.less(t.start) {
			t = t.left
		} else {
			t = t.right
		}
	}
	return t
}

func (s *runSet6) insert(start, end u128) {
	r := s.spare
	if r == nil {
		r = new(run6)
	}
	s.spare = nil
	*r = run6{start: start, end: end, prio: rand.Uint32()}
	left, right := splitRuns6(s.root, r.start)
	s.root = mergeRuns6(mergeRuns6(left, r), right)
}

// has reports whether x is in the set.
func (s *runSet6) has(x u128) bool {
	r := s.floor(x)
	return r != nil && !r.end.less(x)
}

// splitRuns6 divides t into the runs starting before k and the rest.
func splitRuns6(t *run6, k u128) (left, right *run6) {
	if t == nil {
		return nil, nil
	}
	if t.start.less(k) {
		t.right, right = splitRuns6(t.right, k)
		return t, right
	}
	left, t.left = splitRuns6(t.left, k)
	return left, t
}

// mergeRuns6 joins two treaps where every run of left precedes every run of right.
func mergeRuns6(left, right *run6) *run6 {
	switch {
	case left == nil:
		return right
	case right == nil:
		return left
	case left.prio > right.prio:
		left.right = mergeRuns6(left.right, right)
		return left
	default:
		right.left = mergeRuns6(left, right.left)
		return right
	}
}

// removeRun6 deletes the run starting at k from t.
func removeRun6(t *run6, k u128) *run6 {
	switch {
	case t == nil:
		return nil
	case k.less(t.start):
		t.left = removeRun6(t.left, k)
	case t.start.less(k):
		t.right = removeRun6(t.right, k)
	default:
		return mergeRuns6(t.left, t.right)
	}
	return t
}

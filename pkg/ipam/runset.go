package ipam

import "math/rand/v2"

// runSet is a set of uint32s kept as maximal runs of consecutive numbers in a
// treap keyed by run start. Time and memory follow the number of runs, not
// the numbers they cover, and because runs are maximal the number after a run
// is always free: "lowest free from x" is one lookup.
type runSet struct {
	root  *run
	spare *run // the last run removed, reused so that churn at one spot does not allocate
}

// run is the treap node for the numbers [start, end].
type run struct {
	start, end  uint32
	prio        uint32 // max-heap order keeps the treap balanced
	left, right *run
}

// nextFree is the lowest number >= x not in the set; it is 1<<32 when none is.
func (s *runSet) nextFree(x uint32) uint64 {
	if r := s.floor(x); r != nil && r.end >= x {
		return uint64(r.end) + 1
	}
	return uint64(x)
}

// add inserts x, which must not be in the set, merging it with its neighbours.
func (s *runSet) add(x uint32) {
	prev := s.floor(x) // ends before x, since x is free
	var next *run
	if x < ^uint32(0) {
		next = s.find(x + 1)
	}
	joinPrev := prev != nil && uint64(prev.end)+1 == uint64(x)
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
func (s *runSet) remove(x uint32) {
	r := s.floor(x)
	switch {
	case r.start == r.end:
		s.drop(r)
	case x == r.start:
		r.start++
	case x == r.end:
		r.end--
	default:
		end := r.end
		r.end = x - 1
		s.insert(x+1, end)
	}
}

// drop removes run r from the tree and keeps it, emptied, for reuse.
func (s *runSet) drop(r *run) {
	s.root = removeRun(s.root, r.start)
	*r = run{}
	s.spare = r
}

// floor is the run with the greatest start <= x.
func (s *runSet) floor(x uint32) *run {
	var best *run
	for t := s.root; t != nil; {
		if t.start <= x {
			best, t = t, t.right
		} else {
			t = t.left
		}
	}
	return best
}

// find is the run starting at x.
func (s *runSet) find(x uint32) *run {
	t := s.root
	for t != nil && t.start != x {
		if x < t.start {
			t = t.left
		} else {
			t = t.right
		}
	}
	return t
}

func (s *runSet) insert(start, end uint32) {
	r := s.spare
	if r == nil {
		r = new(run)
	}
	s.spare = nil
	*r = run{start: start, end: end, prio: rand.Uint32()}
	left, right := splitRuns(s.root, r.start)
	s.root = mergeRuns(mergeRuns(left, r), right)
}

// splitRuns divides t into the runs starting before k and the rest.
func splitRuns(t *run, k uint32) (left, right *run) {
	if t == nil {
		return nil, nil
	}
	if t.start < k {
		t.right, right = splitRuns(t.right, k)
		return t, right
	}
	left, t.left = splitRuns(t.left, k)
	return left, t
}

// mergeRuns joins two treaps where every run of left precedes every run of right.
func mergeRuns(left, right *run) *run {
	switch {
	case left == nil:
		return right
	case right == nil:
		return left
	case left.prio > right.prio:
		left.right = mergeRuns(left.right, right)
		return left
	default:
		right.left = mergeRuns(left, right.left)
		return right
	}
}

// removeRun deletes the run starting at k from t.
func removeRun(t *run, k uint32) *run {
	switch {
	case t == nil:
		return nil
	case k < t.start:
		t.left = removeRun(t.left, k)
	case k > t.start:
		t.right = removeRun(t.right, k)
	default:
		return mergeRuns(t.left, t.right)
	}
	return t
}

// has reports whether x is in the set.
func (s *runSet) has(x uint32) bool {
	r := s.floor(x)
	return r != nil && r.end >= x
}

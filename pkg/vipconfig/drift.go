package vipconfig

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// Drift is what someone else changed in the entries of ours since our last write,
// as the write that repaired it saw it.
type Drift struct {
	Recreated bool // the ConfigMap was deleted
	// Entries are the entries of ours deleted or edited, each as this write put it
	// back: from the view that was rendered and written, never a later one.
	Entries    map[netip.Addr]Entry
	Annotation bool // the ownership annotation was removed or edited
}

// drift compares someone else's version with what our last write published, for
// the entries this write publishes again for the same Service. An address
// released or handed to another Service since is a change, not a repair.
func (w *Writer) drift(base *corev1.ConfigMap, ours bool, published map[netip.Addr]Entry) Drift {
	if ours || (base != nil && w.isOurs(base.ResourceVersion)) {
		return Drift{}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case len(w.prev) == 0:
		return Drift{}
	case base == nil:
		return Drift{Recreated: true}
	}
	d := Drift{Annotation: base.Annotations[OwnedAnnotation] != w.prevOwned}
	for addr, was := range w.prev {
		now, still := published[addr]
		key, _ := w.family.renderKey(addr) // published holds only addresses written
		cur := base.Data[key]
		if !still || now.Service != was.Service || cur == was.Value() || cur == now.Value() {
			continue
		}
		if d.Entries == nil {
			d.Entries = map[netip.Addr]Entry{}
		}
		d.Entries[addr] = now
	}
	return d
}

// remember records our write so that its echo from the informer is not mistaken
// for someone else's edit, and what it published (blocked entries left out), to
// tell later edits by others.
func (w *Writer) remember(cm *corev1.ConfigMap, published map[netip.Addr]Entry) {
	w.ours.Add(cm.ResourceVersion, nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = cm
	w.prev = published // the ledger hands out a fresh map with each view
	w.prevOwned = cm.Annotations[OwnedAnnotation]
}

// isOurs reports whether rv is one of our latest writes.
func (w *Writer) isOurs(rv string) bool {
	_, ok := w.ours.Get(rv)
	return ok
}

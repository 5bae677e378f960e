package vipconfig

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rendered is the ConfigMap a view turns base into, and what that changes.
type Rendered struct {
	Object  *corev1.ConfigMap
	Changed bool         // Object differs from base: a write is due
	Blocked []netip.Addr // entries not written because someone else wrote their key; sorted
	Removed []string     // keys of ours removed because no Service holds them
	// Skipped are entries of the view not written because their address has no
	// key in this ConfigMap's family (Family.Render); sorted. Always empty for IPv4.
	Skipped []netip.Addr
}

// Render applies view to base (nil: missing). Keys of ours (Snapshot.Ours) are
// set or removed to match the view. Every other key is left exactly as it is,
// and an entry whose key someone else wrote is not written. The data map is
// never rewritten as a whole. Render is IPv4.Render: the legacy ConfigMap.
func Render(base *corev1.ConfigMap, namespace, name string, view View) Rendered {
	return IPv4.Render(base, namespace, name, view)
}

// Render is Render for the ConfigMap of family f: its keys are f's (Family.Key,
// Family.CanonicalKey), the rules the same. An IPv6 view's entries whose address
// is not IPv6 are not written but listed in Skipped; an IPv4 view's are written as
// they always were, each under its String().
func (f Family) Render(base *corev1.ConfigMap, namespace, name string, view View) Rendered {
	snap := Read(base)
	next := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if base != nil {
		next = base.DeepCopy()
	}
	data := maps.Clone(snap.Data)
	var r Rendered
	for key := range snap.Data {
		addr, canonical := f.CanonicalKey(key)
		want, wanted := view.Entries[addr]
		wanted = wanted && canonical
		if !wanted && snap.Ours(key, want, wanted) {
			delete(data, key)
			r.Removed = append(r.Removed, key)
		}
	}
	written := make([]netip.Addr, 0, len(view.Entries))
	for addr, e := range view.Entries {
		key, ok := f.renderKey(addr)
		if !ok {
			r.Skipped = append(r.Skipped, addr)
			continue
		}
		if _, has := snap.Data[key]; has && !snap.Ours(key, e, true) {
			r.Blocked = append(r.Blocked, addr)
			continue
		}
		data[key] = e.Value()
		written = append(written, addr)
	}
	slices.SortFunc(r.Blocked, netip.Addr.Compare)
	slices.SortFunc(r.Skipped, netip.Addr.Compare)
	next.Data = data
	next.Annotations = f.annotations(next.Annotations, written, view.Usage)
	r.Object = next
	r.Changed = base == nil || !maps.Equal(data, snap.Data) || !maps.Equal(next.Annotations, base.Annotations)
	return r
}

// annotations returns a copy of current with the ownership list of written and
// the usage summary; the 2017 seed's annotation is dropped, as ours replaces it.
// written are addresses Render wrote: each has a key of family f.
func (f Family) annotations(current map[string]string, written []netip.Addr, usage string) map[string]string {
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	slices.SortFunc(written, netip.Addr.Compare)
	keys := make([]string, len(written))
	for i, addr := range written {
		keys[i], _ = f.renderKey(addr)
	}
	out[OwnedAnnotation] = strings.Join(keys, ",")
	delete(out, SeedAnnotation)
	if usage != "" {
		out[UsageAnnotation] = usage
	}
	return out
}

// Size is the object's size as the API server limits it: data and annotations.
func Size(cm *corev1.ConfigMap) (total, annotationBytes int) {
	for k, v := range cm.Annotations {
		annotationBytes += len(k) + len(v)
	}
	total = annotationBytes
	for k, v := range cm.Data {
		total += len(k) + len(v)
	}
	return total, annotationBytes
}

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
}

// Render applies view to base (nil: missing). Keys of ours (Snapshot.Ours) are
// set or removed to match the view. Every other key is left exactly as it is,
// and an entry whose key someone else wrote is not written. The data map is
// never rewritten as a whole.
func Render(base *corev1.ConfigMap, namespace, name string, view View) Rendered {
	snap := Read(base)
	next := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if base != nil {
		next = base.DeepCopy()
	}
	data := maps.Clone(snap.Data)
	var r Rendered
	for key := range snap.Data {
		addr, canonical := CanonicalKey(key)
		want, wanted := view.Entries[addr]
		wanted = wanted && canonical
		if !wanted && snap.Ours(key, want, wanted) {
			delete(data, key)
			r.Removed = append(r.Removed, key)
		}
	}
	written := make([]netip.Addr, 0, len(view.Entries))
	for addr, e := range view.Entries {
		key := addr.String()
		if _, has := snap.Data[key]; has && !snap.Ours(key, e, true) {
			r.Blocked = append(r.Blocked, addr)
			continue
		}
		data[key] = e.Value()
		written = append(written, addr)
	}
	slices.SortFunc(r.Blocked, netip.Addr.Compare)
	next.Data = data
	next.Annotations = annotations(next.Annotations, written, view.Usage)
	r.Object = next
	r.Changed = base == nil || !maps.Equal(data, snap.Data) || !maps.Equal(next.Annotations, base.Annotations)
	return r
}

// annotations returns a copy of current with the ownership list of written and
// the usage summary; the 2017 seed's annotation is dropped, as ours replaces it.
func annotations(current map[string]string, written []netip.Addr, usage string) map[string]string {
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	slices.SortFunc(written, netip.Addr.Compare)
	keys := make([]string, len(written))
	for i, addr := range written {
		keys[i] = addr.String()
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

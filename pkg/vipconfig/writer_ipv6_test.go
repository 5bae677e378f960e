package vipconfig

import (
	"maps"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// newIPv6Harness is a harness whose writer publishes to an IPv6 ConfigMap.
func newIPv6Harness(t *testing.T) *harness {
	var hooks Hooks
	h := newHarness(t, func(hk *Hooks) { hooks = *hk })
	h.w = NewFamilyWriter(h.api.client(), testNS, testName, IPv6, hooks)
	return h
}

// TestIPv6WriterRepairsDrift: the writer of the IPv6 ConfigMap keeps foreign keys,
// leaves out entries of another family, and repairs and reports what others
// changed in its entries, under their IPv6 keys.
func TestIPv6WriterRepairsDrift(t *testing.T) {
	x, y, z := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::3")
	v4 := netip.MustParseAddr("10.0.0.9")
	h := newIPv6Harness(t)
	h.someoneElse(func(cm *corev1.ConfigMap) { cm.Data["2001-db8--3"] = "ops/manual" })
	h.views.set("2001:db8::1", nat("a/x"))
	h.views.set("2001:db8::2", nat("b/y"))
	h.views.set("2001:db8::3", nat("c/z"))
	h.views.set("10.0.0.9", nat("d/v4"))
	steps := []struct {
		name      string
		act       func()
		wantDrift Drift
	}{
		{name: "first write", act: func() {}},
		{
			name: "entries deleted and edited by hand",
			act: func() {
				h.w.Observed(h.someoneElse(func(cm *corev1.ConfigMap) {
					delete(cm.Data, "2001-db8--1")
					cm.Data["2001-db8--2"] = "ops/other"
				}))
			},
			wantDrift: Drift{Entries: map[netip.Addr]Entry{x: nat("a/x"), y: nat("b/y")}},
		},
		{
			name: "ownership annotation removed",
			act: func() {
				h.w.Observed(h.someoneElse(func(cm *corev1.ConfigMap) { delete(cm.Annotations, OwnedAnnotation) }))
			},
			wantDrift: Drift{Annotation: true},
		},
		{
			name:      "ConfigMap deleted",
			act:       func() { h.deleteAsSomeoneElse(); h.w.Observed(nil) },
			wantDrift: Drift{Recreated: true},
		},
	}
	for _, s := range steps {
		s.act()
		h.views.change(func(map[netip.Addr]Entry) {})
		h.sync()
		r := h.lastRound()
		wantBlocked := map[netip.Addr]Entry{z: nat("c/z")}
		if s.wantDrift.Recreated {
			wantBlocked = nil // the foreign key went with the ConfigMap
		}
		if !r.Written || !maps.Equal(r.Blocked, wantBlocked) || !maps.Equal(r.Skipped, map[netip.Addr]Entry{v4: nat("d/v4")}) {
			t.Errorf("%s: Written = %v, Blocked = %s, Skipped = %s; want a write, %s blocked and 10.0.0.9 skipped",
				s.name, r.Written, entriesString(r.Blocked), entriesString(r.Skipped), entriesString(wantBlocked))
		}
		assertDrift(t, r.Drift, s.wantDrift)
		want := map[string]string{"2001-db8--1": "a/x", "2001-db8--2": "b/y", "2001-db8--3": "ops/manual"}
		owned := "2001-db8--1,2001-db8--2"
		if s.wantDrift.Recreated {
			want["2001-db8--3"] = "c/z" // the foreign key went with the ConfigMap
			owned = "2001-db8--1,2001-db8--2,2001-db8--3"
		}
		cm := h.stored()
		if !maps.Equal(cm.Data, want) || cm.Annotations[OwnedAnnotation] != owned {
			t.Errorf("%s: stored data %v, owned %q; want %v, %q", s.name, cm.Data, cm.Annotations[OwnedAnnotation], want, owned)
		}
	}
}

// TestIPv6WriterReportsSkippedWithoutWrite: a round with nothing to write still
// tells the Wrote hook of entries it could not write.
func TestIPv6WriterReportsSkippedWithoutWrite(t *testing.T) {
	h := newIPv6Harness(t)
	h.views.set("2001:db8::1", nat("a/x"))
	h.sync()
	h.views.set("::ffff:10.0.0.1", nat("b/mapped"))
	h.sync()
	r := h.lastRound()
	if r.Written || !maps.Equal(r.Skipped, map[netip.Addr]Entry{netip.MustParseAddr("::ffff:10.0.0.1"): nat("b/mapped")}) {
		t.Errorf("Written = %v, Skipped = %s; want no write and the mapped address skipped", r.Written, entriesString(r.Skipped))
	}
	if got := h.stored().Data; !maps.Equal(got, map[string]string{"2001-db8--1": "a/x"}) {
		t.Errorf("stored data %v, want only 2001-db8--1", got)
	}
}

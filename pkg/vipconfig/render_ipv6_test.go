package vipconfig

import (
	"net/netip"
	"slices"
	"testing"
)

// TestRenderIPv6: the IPv6 ConfigMap follows the legacy one's rules, with the
// keys of EncodeIPv6Key in its data and its ownership annotation.
func TestRenderIPv6(t *testing.T) {
	tests := []struct {
		name        string
		data, annot map[string]string // the base; nil data: missing
		view        map[string]Entry
		wantBlocked []string
		wantRemoved []string
		wantSkipped []string
	}{
		{name: "IPv6 missing ConfigMap is created", view: map[string]Entry{"2001:db8::1": {"default/web", DR}, "2001:db8::a": nat("default/db")}},
		{
			name: "IPv6 foreign, empty and other-family keys are kept",
			data: map[string]string{"2001-db8--8": "ops/manual", "2001-db8--9": "", "2001-0db8--1": "default/web", "10.0.0.1": "default/web", "not-an-ip": "x"},
			view: map[string]Entry{"2001:db8::1": nat("default/web")},
		},
		{
			name:        "IPv6 a foreign key is never overwritten",
			data:        map[string]string{"2001-db8--1": "ops/manual"},
			view:        map[string]Entry{"2001:db8::1": nat("default/web"), "2001:db8::2": nat("default/db")},
			wantBlocked: []string{"2001:db8::1"},
		},
		{
			name:        "IPv6 own entry edited, deleted, freed",
			data:        map[string]string{"2001-db8--1": "default/other", "2001-db8--3": "default/gone", "2001-db8--8": ""},
			annot:       map[string]string{OwnedAnnotation: "2001-db8--1,2001-db8--2,2001-db8--3"},
			view:        map[string]Entry{"2001:db8::1": {"default/web", PROXY}, "2001:db8::2": nat("default/db")},
			wantRemoved: []string{"2001-db8--3"},
		},
		{
			name:        "IPv6 annotation removed: matching entries stay ours",
			data:        map[string]string{"2001-db8--1": "default/web", "2001-db8--2": "default/db:DR"},
			annot:       map[string]string{"kubectl.kubernetes.io/x": "y"},
			view:        map[string]Entry{"2001:db8::1": nat("default/web"), "2001:db8::2": nat("default/db")},
			wantBlocked: []string{"2001:db8::2"},
		},
		{
			name:        "IPv6 entries of another family are skipped",
			data:        map[string]string{},
			view:        map[string]Entry{"2001:db8::1": nat("default/web"), "10.0.0.1": nat("default/v4"), "::ffff:10.0.0.2": nat("default/mapped")},
			wantSkipped: []string{"10.0.0.1", "::ffff:10.0.0.2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view := View{Entries: map[netip.Addr]Entry{}, Usage: "default: 1 of 65536 in use"}
			for k, e := range tt.view {
				view.Entries[netip.MustParseAddr(k)] = e
			}
			base := configMap(tt.data, tt.annot)
			if tt.data == nil {
				base = nil
			}
			if base != nil {
				base.Name = "vip-configmap-ipv6"
			}
			r := IPv6.Render(base, "kube-system", "vip-configmap-ipv6", view)
			if !r.Changed {
				t.Error("Changed = false, want a write")
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"Blocked", addrStrings(r.Blocked), tt.wantBlocked},
				{"Removed", sorted(r.Removed), tt.wantRemoved},
				{"Skipped", addrStrings(r.Skipped), tt.wantSkipped},
			} {
				if !slices.Equal(c.got, sorted(c.want)) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
			if r.Object.Name != "vip-configmap-ipv6" || r.Object.Namespace != "kube-system" {
				t.Errorf("rendered %s/%s, want kube-system/vip-configmap-ipv6", r.Object.Namespace, r.Object.Name)
			}
			assertGolden(t, r.Object)
			if again := IPv6.Render(r.Object, "kube-system", "vip-configmap-ipv6", view); again.Changed {
				t.Error("rendering the result again changes it: every sync would write")
			}
		})
	}
}

// TestRenderIPv4IgnoresIPv6Keys: in the legacy ConfigMap an IPv6 key is someone
// else's, whatever its value, as before the IPv6 ConfigMap existed.
func TestRenderIPv4IgnoresIPv6Keys(t *testing.T) {
	base := configMap(map[string]string{"2001-db8--1": "default/web", "10.0.0.1": "default/web"}, map[string]string{OwnedAnnotation: "10.0.0.1"})
	r := Render(base, "kube-system", "vip-configmap", View{Entries: map[netip.Addr]Entry{}})
	if got := r.Object.Data["2001-db8--1"]; got != "default/web" || len(r.Removed) != 1 || r.Removed[0] != "10.0.0.1" {
		t.Errorf("2001-db8--1 = %q, Removed = %v; want the IPv6 key kept and only 10.0.0.1 removed", got, r.Removed)
	}
}

// FuzzRenderIPv6: whatever the IPv6 ConfigMap holds, a key nothing lists as ours
// keeps its value, and each entry of the view is written under its key unless
// that key is someone else's.
func FuzzRenderIPv6(f *testing.F) {
	f.Add("2001-db8--1", "default/web:DR", "2001-db8--1")
	f.Add("2001-db8--ffff", "ops/manual", "")
	f.Add("2001-0db8--1", "default/web", "")
	f.Add("10.0.0.1", "", ",,")
	f.Fuzz(func(t *testing.T, key, value, owned string) {
		cm := configMap(map[string]string{key: value}, map[string]string{OwnedAnnotation: owned})
		snap := Read(cm)
		fixed := netip.MustParseAddr("2001:db8::ffff")
		view := View{Entries: map[netip.Addr]Entry{fixed: nat("ns/fixed")}}
		if addr, e, err := IPv6.ParseEntry(key, value); err == nil {
			view.Entries[addr] = e
		}
		r := IPv6.Render(cm, "ns", "name", view)
		for k, v := range snap.Data {
			if !snap.Listed[k] && r.Object.Data[k] != v {
				t.Fatalf("foreign key %q: %q became %q", k, v, r.Object.Data[k])
			}
		}
		for addr, e := range view.Entries {
			k, _ := IPv6.Key(addr)
			if got := r.Object.Data[k]; got != e.Value() && !slices.Contains(r.Blocked, addr) {
				t.Fatalf("entry %s: key %q holds %q, want %q or the entry blocked", addr, k, got, e.Value())
			}
		}
	})
}

package vipconfig

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const seedState = `{"services":[{"uid":"u1","ip":"10.0.0.5","serviceNamespace":"default","serviceName":"old","forwardMethod":"DR"}]}`

func TestRender(t *testing.T) {
	tests := []struct {
		name        string
		base        *corev1.ConfigMap
		view        map[string]Entry
		wantBlocked []string
		wantRemoved []string
	}{
		{name: "missing ConfigMap is created", view: map[string]Entry{"10.0.0.1": {"default/web", DR}}},
		{
			name: "foreign and empty entries are kept",
			base: configMap(map[string]string{"10.0.0.8": "ops/manual", "10.0.0.9": "", "not-an-ip": "x"}, nil),
			view: map[string]Entry{"10.0.0.1": {"default/web", NAT}},
		},
		{
			name:        "a foreign key is never overwritten",
			base:        configMap(map[string]string{"10.0.0.1": "ops/manual"}, nil),
			view:        map[string]Entry{"10.0.0.1": {"default/web", NAT}, "10.0.0.2": {"default/db", NAT}},
			wantBlocked: []string{"10.0.0.1"},
		},
		{
			name:        "own entry edited, deleted, freed",
			base:        configMap(map[string]string{"10.0.0.1": "default/other", "10.0.0.3": "default/gone", "10.0.0.8": ""}, map[string]string{OwnedAnnotation: "10.0.0.1,10.0.0.2,10.0.0.3"}),
			view:        map[string]Entry{"10.0.0.1": {"default/web", PROXY}, "10.0.0.2": {"default/db", NAT}},
			wantRemoved: []string{"10.0.0.3"},
		},
		{
			name: "annotation removed: matching entries stay ours",
			base: configMap(map[string]string{"10.0.0.1": "default/web", "10.0.0.2": "default/db:DR"}, map[string]string{"kubectl.kubernetes.io/x": "y"}),
			view: map[string]Entry{"10.0.0.1": {"default/web", NAT}, "10.0.0.2": {"default/db", NAT}},
			// 10.0.0.2's value differs and nothing lists it: someone else's key now.
			wantBlocked: []string{"10.0.0.2"},
		},
		{
			name:        "seed state is adopted and replaced by the ownership annotation",
			base:        configMap(map[string]string{"10.0.0.5": "default/old:DR", "10.0.0.6": "default/gone"}, map[string]string{SeedAnnotation: `{"services":[{"ip":"10.0.0.5"},{"ip":"10.0.0.6"}]}`}),
			view:        map[string]Entry{"10.0.0.5": {"default/old", DR}},
			wantRemoved: []string{"10.0.0.6"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view := View{Entries: map[netip.Addr]Entry{}, Usage: "default: 1 of 254 in use"}
			for k, e := range tt.view {
				view.Entries[netip.MustParseAddr(k)] = e
			}
			r := Render(tt.base, "kube-system", "vip-configmap", view)
			if !r.Changed {
				t.Error("Changed = false, want a write")
			}
			if got := addrStrings(r.Blocked); !slices.Equal(got, sorted(tt.wantBlocked)) {
				t.Errorf("Blocked = %v, want %v", got, tt.wantBlocked)
			}
			if got := sorted(r.Removed); !slices.Equal(got, sorted(tt.wantRemoved)) {
				t.Errorf("Removed = %v, want %v", got, tt.wantRemoved)
			}
			assertGolden(t, r.Object)
			if again := Render(r.Object, "kube-system", "vip-configmap", view); again.Changed {
				t.Error("rendering the result again changes it: every sync would write")
			}
		})
	}
}

func TestRenderLeavesBaseAlone(t *testing.T) {
	base := configMap(map[string]string{"10.0.0.1": "default/web"}, map[string]string{OwnedAnnotation: "10.0.0.1"})
	before := base.DeepCopy()
	Render(base, "kube-system", "vip-configmap", View{})
	if diff := cmp.Diff(before, base); diff != "" {
		t.Errorf("Render modified its base (the informer's cache):\n%s", diff)
	}
}

func FuzzRead(f *testing.F) {
	f.Add("10.0.0.1", "default/web:DR", "10.0.0.1", seedState)
	f.Add("", "", ",,", "{")
	f.Fuzz(func(t *testing.T, key, value, owned, seed string) {
		cm := configMap(map[string]string{key: value}, map[string]string{OwnedAnnotation: owned, SeedAnnotation: seed})
		snap := Read(cm)
		view := View{Entries: map[netip.Addr]Entry{}}
		if addr, e, err := ParseEntry(key, value); err == nil {
			view.Entries[addr] = e
		}
		r := Render(cm, "ns", "name", view)
		for k, v := range snap.Data {
			if !snap.Listed[k] && r.Object.Data[k] != v {
				t.Fatalf("foreign key %q: %q became %q", k, v, r.Object.Data[k])
			}
		}
	})
}

func configMap(data, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "vip-configmap", ResourceVersion: "7", Annotations: annotations},
		Data:       data,
	}
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

// assertGolden compares the ConfigMap's annotations and data with testdata/<test name>.yaml.
func assertGolden(t *testing.T, cm *corev1.ConfigMap) {
	t.Helper()
	got, err := yaml.Marshal(map[string]any{"annotations": cm.Annotations, "data": cm.Data})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", filepath.Base(t.Name())+".yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("rendered ConfigMap differs from %s (-want +got):\n%s", path, diff)
	}
}

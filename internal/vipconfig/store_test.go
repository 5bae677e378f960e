package vipconfig

import (
	"context"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const seedState = `{"services":[{"uid":"u1","ip":"10.0.0.5","serviceNamespace":"default","serviceName":"old","forwardMethod":"DR"}]}`

func TestStoreApply(t *testing.T) {
	tests := []struct {
		name     string
		existing *corev1.ConfigMap
		change   Change
		wantErr  error
	}{
		{
			name:   "missing ConfigMap is created",
			change: set("10.0.0.1", "default/web", NAT),
		},
		{
			name:     "foreign and empty entries are kept",
			existing: configMap(map[string]string{"10.0.0.9": "", "10.0.0.8": "ops/manual:DR", "note": "x"}, nil),
			change:   set("10.0.0.1", "default/web", DR),
		},
		{
			name: "own entry moves, foreign stays",
			existing: configMap(map[string]string{"10.0.0.1": "default/web", "10.0.0.8": "ops/manual"},
				map[string]string{OwnedAnnotation: "10.0.0.1"}),
			change: Change{Set: set("10.0.0.2", "default/web", PROXY).Set, Delete: addrs("10.0.0.1", "10.0.0.8")},
		},
		{
			name:     "seed state is adopted and replaced by the ownership annotation",
			existing: configMap(map[string]string{"10.0.0.5": "default/old:DR", "10.0.0.8": "ops/manual"}, map[string]string{SeedAnnotation: seedState}),
			change:   set("10.0.0.1", "default/web", NAT),
		},
		{
			name:     "a foreign key is never overwritten",
			existing: configMap(map[string]string{"10.0.0.1": ""}, nil),
			change:   set("10.0.0.1", "default/web", NAT),
			wantErr:  ErrNotOwned,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tt.existing != nil {
				client = fake.NewClientset(tt.existing)
			}
			store := NewStore(client, "kube-system", "vip-configmap")
			_, err := store.Apply(context.Background(), tt.change)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Apply() error = %v, want %v", err, tt.wantErr)
			}
			assertGolden(t, current(t, client))
		})
	}
}

// TestStoreApplyConflict makes another writer change the ConfigMap between our read and
// our write: the write must be retried on a fresh read and keep the other writer's change.
func TestStoreApplyConflict(t *testing.T) {
	client := fake.NewClientset(configMap(map[string]string{"10.0.0.1": "default/a"}, map[string]string{OwnedAnnotation: "10.0.0.1"}))
	store := NewStore(client, "kube-system", "vip-configmap")
	if _, _, err := store.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	conflicts := 0
	client.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			return false, nil, nil
		}
		conflicts++
		// The fake client is locked while reactors run: go to its tracker directly.
		gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
		obj, err := client.Tracker().Get(gvr, "kube-system", "vip-configmap")
		if err != nil {
			t.Fatal(err)
		}
		other := obj.(*corev1.ConfigMap).DeepCopy()
		other.Data["10.0.0.7"] = "ops/manual"
		if err := client.Tracker().Update(gvr, other, "kube-system"); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "vip-configmap", errors.New("changed"))
	})
	table, err := store.Apply(context.Background(), set("10.0.0.2", "default/b", NAT))
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	want := map[string]string{"10.0.0.1": "default/a", "10.0.0.2": "default/b", "10.0.0.7": "ops/manual"}
	if diff := cmp.Diff(want, current(t, client).Data); diff != "" {
		t.Errorf("data after conflict (-want +got):\n%s", diff)
	}
	if _, ok := table.Foreign["10.0.0.7"]; !ok || conflicts != 1 {
		t.Errorf("returned table foreign = %v after %d conflicts; want the other writer's key after 1", table.Foreign, conflicts)
	}
}

func TestParseLeavesEditedOwnEntryAlone(t *testing.T) {
	cm := configMap(map[string]string{"10.0.0.1": "", "10.0.0.2": "default/b"}, map[string]string{OwnedAnnotation: "10.0.0.1,10.0.0.2,10.0.0.3"})
	table, warnings := Parse(cm)
	want := Table{Owned: map[netip.Addr]Entry{netip.MustParseAddr("10.0.0.2"): {"default/b", NAT}}, Foreign: map[string]string{"10.0.0.1": ""}}
	if diff := cmp.Diff(want, table, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if len(warnings) != 1 {
		t.Errorf("warnings = %q, want one about the emptied entry 10.0.0.1", warnings)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("10.0.0.1", "default/web:DR", "10.0.0.1", seedState)
	f.Add("x", "", "", "{")
	f.Fuzz(func(t *testing.T, key, value, owned, seed string) {
		cm := configMap(map[string]string{key: value}, map[string]string{OwnedAnnotation: owned, SeedAnnotation: seed})
		table, _ := Parse(cm)
		if len(table.Owned)+len(table.Foreign) != 1 {
			t.Fatalf("key %q is neither owned nor foreign exactly once: %+v", key, table)
		}
		for addr, e := range table.Owned {
			if addr.String() != key || e.Value() == "" {
				t.Fatalf("owned %v=%+v from %q=%q", addr, e, key, value)
			}
		}
	})
}

func set(addr, service string, m Method) Change {
	return Change{Set: map[netip.Addr]Entry{netip.MustParseAddr(addr): {Service: service, Method: m}}}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func configMap(data, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "vip-configmap", Annotations: annotations, ResourceVersion: "1"},
		Data:       data,
	}
}

func current(t *testing.T, client *fake.Clientset) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "vip-configmap", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading ConfigMap: %v", err)
	}
	return cm
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

// TestStoreApplyNoop checks that re-applying what is already written costs one read and no
// write (the service controller re-syncs every Service at start), and that the read is
// fresh: an entry someone deleted behind our back is written again.
func TestStoreApplyNoop(t *testing.T) {
	client := fake.NewClientset()
	store := NewStore(client, "kube-system", "vip-configmap")
	ctx := context.Background()
	change := set("10.0.0.1", "default/web", NAT)
	if _, err := store.Apply(ctx, change); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if _, err := store.Apply(ctx, change); err != nil {
		t.Fatal(err)
	}
	if verbs := actionVerbs(client); !cmp.Equal(verbs, []string{"get"}) {
		t.Errorf("no-op apply made requests %v, want one get", verbs)
	}

	cm := current(t, client)
	delete(cm.Data, "10.0.0.1")
	if _, err := client.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Apply(ctx, change); err != nil {
		t.Fatal(err)
	}
	if got := current(t, client).Data["10.0.0.1"]; got != "default/web" {
		t.Errorf("entry deleted behind our back reads %q after re-apply, want it restored", got)
	}
	if _, err := NewStore(fake.NewClientset(), "kube-system", "vip-configmap").Apply(ctx, Change{Delete: addrs("10.0.0.1")}); err != nil {
		t.Errorf("deleting from a missing ConfigMap = %v, want nothing to do", err)
	}
}

func actionVerbs(client *fake.Clientset) []string {
	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb())
	}
	return verbs
}

package chart

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// TestChartMatchesManifests renders the chart and the kustomize bases for the same
// setups and requires the same objects with the same specs and rules.
func TestChartMatchesManifests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		values    []string
		manifests []string // kustomize directories
	}{
		{name: "defaults", manifests: []string{"manifests", "manifests/agent"}},
		{name: "agent disabled", values: []string{"agent: {enabled: false}"}, manifests: []string{"manifests"}},
		{
			name:      "pools file",
			values:    []string{poolsFileValues(t, "examples/pools-file/pools.yaml")},
			manifests: []string{"examples/pools-file", "manifests/agent"},
		},
		{
			// The optional component: its RBAC and KEEPALIVED_INITIALIZE_NODES on the Deployment.
			name:      "node init",
			values:    []string{"nodeInit: {enabled: true}"},
			manifests: []string{"examples/node-init", "manifests/agent"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helmTemplate(t, tc.values...)
			if err != nil {
				t.Fatal(err)
			}
			chart := byID(t, decode(t, out))
			var want []runtime.Object
			for _, dir := range tc.manifests {
				want = append(want, decode(t, kustomize(t, dir))...)
			}
			compare(t, byID(t, want), chart)
		})
	}
}

// poolsFileValues makes chart values that carry a pools file as provider.poolsFile.
func poolsFileValues(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	var pools map[string]any
	if err := yaml.Unmarshal(data, &pools); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	values, err := yaml.Marshal(map[string]any{"provider": map[string]any{"poolsFile": pools}})
	if err != nil {
		t.Fatal(err)
	}
	return string(values)
}

func compare(t *testing.T, manifests, chart map[string]runtime.Object) {
	t.Helper()
	if diff := cmp.Diff(sortedKeys(manifests), sortedKeys(chart)); diff != "" {
		t.Errorf("the chart renders other objects than the manifests (-manifests +chart):\n%s", diff)
	}
	for _, id := range sortedKeys(manifests) {
		got, ok := chart[id]
		if !ok {
			continue
		}
		want := manifests[id]
		if diff := cmp.Diff(view(t, want), view(t, got), quantities); diff != "" {
			t.Errorf("%s differs (-manifests +chart):\n%s", id, diff)
		}
		if missing := missingLabels(want, got); len(missing) > 0 {
			t.Errorf("%s: the chart lacks the manifests' labels %v", id, missing)
		}
	}
	if t.Failed() {
		t.Logf("objects of the manifests: %v", sortedKeys(manifests))
	}
}

package kubeproxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const missing = "missing"

// sysctlDir writes arp_ignore and arp_announce (values "missing" are left out) into a
// temporary directory.
func sysctlDir(t *testing.T, ignore, announce string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{"arp_ignore": ignore, "arp_announce": announce} {
		if v == missing {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func links(names ...string) func(string) bool {
	return func(name string) bool {
		for _, n := range names {
			if n == name {
				return true
			}
		}
		return false
	}
}

func TestStrictARPProblem(t *testing.T) {
	tests := []struct {
		ignore, announce string
		ipvs             bool
		wantProblem      []string // substrings; nil: no problem
		wantErr          bool
	}{
		{"0", "0", true, []string{"kube-ipvs0", "arp_ignore=0", "arp_announce=0"}, false},
		{"1", "2", true, nil, false},
		{"1", "0", true, []string{"arp_ignore=1", "arp_announce=0"}, false},
		{"0", "2", true, []string{"arp_ignore=0", "arp_announce=2"}, false},
		{"2", "2", true, nil, false},
		{missing, "2", true, nil, true},
		{"1", missing, true, nil, true},
		{"one", "2", true, nil, true},
		{"0", "0", false, nil, false},
		{"1", "2", false, nil, false},
		{"1", "0", false, nil, false},
		{"2", "2", false, nil, false},
		{missing, missing, false, nil, false}, // not read without kube-ipvs0
	}
	fix := "set ipvs.strictARP: true in kube-proxy's configuration (kubectl -n kube-system edit configmap kube-proxy) and restart kube-proxy"
	for _, tt := range tests {
		name := "ignore=" + tt.ignore + ",announce=" + tt.announce
		if tt.ipvs {
			name += ",ipvs"
		}
		t.Run(name, func(t *testing.T) {
			linkExists := links("lo", "eth0")
			if tt.ipvs {
				linkExists = links("lo", "eth0", "kube-ipvs0")
			}
			got, err := StrictARPProblem(sysctlDir(t, tt.ignore, tt.announce), linkExists)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("StrictARPProblem() = %q, nil; want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("StrictARPProblem() error = %v", err)
			}
			if tt.wantProblem == nil {
				if got != "" {
					t.Fatalf("StrictARPProblem() = %q, want no problem", got)
				}
				return
			}
			for _, want := range append(tt.wantProblem, fix) {
				if !strings.Contains(got, want) {
					t.Errorf("StrictARPProblem() = %q, want it to contain %q", got, want)
				}
			}
		})
	}
}

func TestLinkExists(t *testing.T) {
	if !LinkExists("lo") {
		t.Error(`LinkExists("lo") = false, want true`)
	}
	if LinkExists("kpx-no-such0") {
		t.Error(`LinkExists("kpx-no-such0") = true, want false`)
	}
}

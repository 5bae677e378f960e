package poolconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "pools.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	for path, data := range map[string]string{good: example, bad: "pools: [{name: a}]"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	cfg, _, err := Load(good)
	if err != nil || len(cfg.Pools) != 2 {
		t.Fatalf("Load(good) = %v, %v", cfg, err)
	}

	_, _, err = Load(bad)
	checkErr(t, err, "invalid pools file "+bad+":\npool \"a\": addresses: list at least one CIDR, first-last range or address", nil)

	missing := filepath.Join(dir, "missing.yaml")
	_, _, err = Load(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v; want a not-exist error naming the file", err)
	}
}

func TestFromCIDR(t *testing.T) {
	cfg, warnings, err := FromCIDR("10.210.38.102/30, 10.210.38.200-10.210.38.202")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Pools: []Pool{pool("default", rng("10.210.38.101", "10.210.38.102"), rng("10.210.38.200", "10.210.38.202"))}}
	if diff := cmp.Diff(want, cfg, addrs); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"10.210.38.102/30 has host bits set; using its network 10.210.38.100/30"}, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if got, _ := cfg.Candidates("any", ""); !cmp.Equal(got, []string{"default"}) {
		t.Errorf("Candidates = %q, want [default]", got)
	}

	_, _, err = FromCIDR("fd00::/64")
	checkErr(t, err, `item 1 "fd00::/64": `+ipv6Reason, nil)
}

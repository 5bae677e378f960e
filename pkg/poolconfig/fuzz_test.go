package poolconfig

import (
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		example, teams, "",
		"pools: [{name: a, addresses: [10.0.0.0/24]}, {name: a, addresses: [10.0.0.0/25]}]",
		"pools: [{name: a, addresses: ['fd00::/64', '::ffff:1.2.3.4', 1.2.3.4-1.2.3.1]}]\nreserved: [0.0.0.0/0]",
		"pools:\n- name: a\n  addresses: [255.255.255.254/31]\n  avoidBuggyIPs: true\n  namespaces: [x]\nreserved: [255.255.255.255]",
		"pools: [{name: a, addresses: [10.0.0.1], bogus: 1}]\nextra: 2",
		`{"pools": [{"name": "a", "addresses": ["10.0.0.1"]}]}`,
		"pools:\n- &p {name: a, addresses: [10.0.0.1]}\n- *p",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse(data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("config returned with error %v", err)
			}
			return
		}
		checkAccepted(t, cfg)
	})
}

// checkAccepted fails unless cfg keeps every promise Parse makes.
func checkAccepted(t *testing.T, cfg *Config) {
	t.Helper()
	if len(cfg.Pools) == 0 {
		t.Fatal("accepted a file with no pools")
	}
	seen := map[string]bool{}
	var all []ipam.Range
	for _, p := range cfg.Pools {
		if seen[p.Name] || len(validation.IsDNS1123Label(p.Name)) > 0 {
			t.Fatalf("accepted pool name %q (duplicate: %v)", p.Name, seen[p.Name])
		}
		seen[p.Name] = true
		if len(p.Ranges) == 0 {
			t.Fatalf("pool %q has no ranges", p.Name)
		}
		for _, ns := range p.Namespaces {
			if len(validation.IsDNS1123Label(ns)) > 0 {
				t.Fatalf("pool %q accepted namespace %q", p.Name, ns)
			}
		}
		all = append(all, p.Ranges...)
	}
	for i, r := range all {
		checkIPv4Range(t, r)
		for _, o := range all[:i] {
			if r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0 {
				t.Fatalf("accepted overlapping ranges %v and %v", o, r)
			}
		}
	}
	for _, r := range cfg.Reserved {
		checkIPv4Range(t, r)
	}
	if _, err := ipam.NewAllocator(cfg.IPAMPools()...); err != nil {
		t.Fatalf("accepted pools the allocator refuses: %v", err)
	}
	checkSelection(t, cfg)
}

func checkIPv4Range(t *testing.T, r ipam.Range) {
	t.Helper()
	if !r.First.Is4() || !r.Last.Is4() || r.First.Compare(r.Last) > 0 {
		t.Fatalf("accepted range %v-%v", r.First, r.Last)
	}
}

// checkSelection asks the selection rules about every pool's edges: they
// must not panic, and must only offer pools that exist, auto-assign and
// serve the namespace.
func checkSelection(t *testing.T, cfg *Config) {
	t.Helper()
	namespaces := []string{"default"}
	for _, p := range cfg.Pools {
		namespaces = append(namespaces, p.Namespaces...)
	}
	for _, ns := range namespaces {
		got, err := cfg.Candidates(ns, "")
		if err != nil {
			t.Fatalf("Candidates(%q): %v", ns, err)
		}
		offered := map[string]bool{}
		for _, name := range got {
			p, ok := cfg.Lookup(name)
			if !ok || !p.AutoAssign || !p.Serves(ns) || offered[name] {
				t.Fatalf("Candidates(%q) = %q offers %q wrongly", ns, got, name)
			}
			offered[name] = true
		}
		for _, p := range cfg.Pools {
			_, _ = cfg.Candidates(ns, p.Name)
			for _, r := range p.Ranges {
				for _, a := range []netip.Addr{r.First, r.Last, r.First.Prev(), r.Last.Next()} {
					_ = cfg.PermitsRequest(ns, p.Name, a)
					if err := cfg.PermitsRequest(ns, "", a); err == nil && cfg.IsReserved(a) {
						t.Fatalf("PermitsRequest(%q, %s) allowed a reserved address", ns, a)
					}
				}
			}
		}
	}
}

package poolconfig_test

import (
	"fmt"
	"net/netip"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
)

func Example() {
	cfg, warnings, err := poolconfig.Parse([]byte(`
pools:
  - name: public
    addresses: [10.210.38.64/26, 10.210.39.10-10.210.39.20]
    namespaces: [team-a, team-b]
  - name: private
    addresses: [192.168.50.0/24]
  - name: spare
    addresses: [192.168.51.0/24]
    autoAssign: false
reserved:
  - 10.210.38.65
`))
	if err != nil {
		panic(err)
	}
	fmt.Println(warnings)

	alloc, err := ipam.NewAllocator(cfg.IPAMPools()...)
	if err != nil {
		panic(err)
	}
	for _, ns := range []string{"team-a", "web"} {
		pools, _ := cfg.Candidates(ns, "")
		ip, err := alloc.Allocate(pools[0])
		fmt.Println(ns, pools, ip, err)
	}
	_, err = cfg.Candidates("web", "public")
	fmt.Println(err)
	fmt.Println(cfg.PermitsRequest("web", "", netip.MustParseAddr("192.168.51.7")))
	fmt.Println(cfg.PermitsRequest("web", "", netip.MustParseAddr("10.210.38.80")))
	// Output:
	// []
	// team-a [public private] 10.210.38.66 <nil>
	// web [private] 192.168.50.1 <nil>
	// annotation k8s.co/keepalived-pool names pool "public", which serves namespaces [team-a, team-b] only
	// <nil>
	// address 10.210.38.80 is in pool "public", which serves namespaces [team-a, team-b] only
}

package ipam_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

func Example() {
	ranges, warnings, err := ipam.ParseRanges("10.210.38.102/30, 10.210.38.200-10.210.38.202")
	if err != nil {
		panic(err)
	}
	fmt.Println(warnings)
	a, err := ipam.NewAllocator(ipam.Pool{Name: "default", Ranges: ranges})
	if err != nil {
		panic(err)
	}

	// Rebuild from what is published before handing anything out.
	_ = a.Reserve(netip.MustParseAddr("10.210.38.101"), "default/echo")
	_ = a.Reserve(netip.MustParseAddr("192.168.7.7"), "default/outside") // outside every pool

	for _, svc := range []string{"default/web", "default/db", "default/cache", "default/mq", "default/queue"} {
		ip, err := a.Allocate("", svc)
		fmt.Println(svc, ip, err, errors.Is(err, ipam.ErrExhausted))
	}
	fmt.Println(a.Reserve(netip.MustParseAddr("10.210.38.101"), "default/web"))
	fmt.Println(a.Usage())
	// Output:
	// [10.210.38.102/30 has host bits set; using its network 10.210.38.100/30]
	// default/web 10.210.38.102 <nil> false
	// default/db 10.210.38.200 <nil> false
	// default/cache 10.210.38.201 <nil> false
	// default/mq 10.210.38.202 <nil> false
	// default/queue invalid IP no free address in 10.210.38.100/30, 10.210.38.200-10.210.38.202 (5 of 5 in use) true
	// address 10.210.38.101 is already held by default/echo
	// [{default 5 5}]
}

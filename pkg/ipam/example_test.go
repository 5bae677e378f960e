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

	// Rebuild from what is published before handing anything out. Who holds
	// each address is the caller's to record; the allocator only counts it.
	_ = a.Take(netip.MustParseAddr("10.210.38.101"))
	_ = a.Take(netip.MustParseAddr("192.168.7.7")) // outside every pool: no slot, nothing to count

	for _, svc := range []string{"default/web", "default/db", "default/cache", "default/mq", "default/queue"} {
		ip, err := a.Allocate("")
		fmt.Println(svc, ip, err, errors.Is(err, ipam.ErrExhausted))
	}
	fmt.Println(a.Take(netip.MustParseAddr("10.210.38.101")))
	fmt.Println(a.Usage())

	// A pool edit keeps every address the caller holds; PoolOf finds those
	// left outside every pool.
	wide, _, _ := ipam.ParseRanges("10.210.38.96/28")
	held := []netip.Addr{netip.MustParseAddr("10.210.38.101"), netip.MustParseAddr("10.210.38.200"), netip.MustParseAddr("192.168.7.7")}
	next, err := ipam.Repool(held, ipam.Pool{Name: "default", Ranges: wide})
	if err != nil {
		panic(err)
	}
	for _, ip := range held {
		if _, ok := next.PoolOf(ip); !ok {
			fmt.Println("outside the pools:", ip)
		}
	}
	fmt.Println(next.Usage())
	fmt.Println(next.Allocate(""))
	// Output:
	// [10.210.38.102/30 has host bits set; using its network 10.210.38.100/30]
	// default/web 10.210.38.102 <nil> false
	// default/db 10.210.38.200 <nil> false
	// default/cache 10.210.38.201 <nil> false
	// default/mq 10.210.38.202 <nil> false
	// default/queue invalid IP no free address in 10.210.38.100/30, 10.210.38.200-10.210.38.202 (5 of 5 in use) true
	// address in use: 10.210.38.101
	// [{default 5 5}]
	// outside the pools: 10.210.38.200
	// outside the pools: 192.168.7.7
	// [{default 14 1}]
	// 10.210.38.97 <nil>
}

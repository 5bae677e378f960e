package ipam_test

import (
	"fmt"
	"net/netip"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

// A pool may hold both families; DualStack parses and allocates IPv6 beside
// IPv4, and the IPv4Only functions keep refusing it.
func Example_dualStack() {
	_, _, err := ipam.ParseRanges("fd00::/64")
	fmt.Println(err)

	ranges, _, err := ipam.DualStack.ParseRanges("10.210.38.100/30, fd00:38::/48")
	if err != nil {
		panic(err)
	}
	a, err := ipam.DualStack.NewAllocator(ipam.Pool{Name: "default", Ranges: ranges})
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Allocate("default"))                     // IPv4, as before
	fmt.Println(a.AllocateFamily("default", ipam.IPv6))    // fd00:38:: is the subnet-router anycast address
	fmt.Println(a.Take(netip.MustParseAddr("fd00:38::2"))) // restored from a Service's status
	fmt.Println(a.AllocateFamily("default", ipam.IPv6))
	fmt.Println(a.Usage()) // a /48 saturates the one count...
	for _, u := range a.FamilyUsage() {
		fmt.Println(u.Name, u.Family, u.Size, u.InUse) // ...and is exact per family
	}
	// Output:
	// item 1 "fd00::/64": IPv6 is not supported: kube-keepalived-vip cannot publish IPv6 addresses (ConfigMap keys cannot contain ':')
	// 10.210.38.101 <nil>
	// fd00:38::1 <nil>
	// <nil>
	// fd00:38::3 <nil>
	// [{default 18446744073709551615 4}]
	// default IPv4 2 1
	// default IPv6 1208925819614629174706175 3
}

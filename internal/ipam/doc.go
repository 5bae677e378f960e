// Package ipam hands out IPv4 LoadBalancer addresses from operator pools.
//
// It is pure address maths on net/netip with no Kubernetes dependency. Pools
// may span millions of addresses, so nothing here ever enumerates a range:
// the time and memory of every operation follow the number of addresses in
// use, never the size of a pool.
package ipam

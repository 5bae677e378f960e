// Package poolconfig reads the pools file, which shapes the addresses the
// provider hands out, and answers which pools a Service may use.
//
// The file is YAML, typically mounted from a ConfigMap:
//
//	pools:
//	  - name: public                 # required, a DNS-1123 label, unique
//	    addresses:                   # required: CIDRs, first-last ranges and single addresses, mixed
//	      - 10.210.38.64/26          #   a CIDR of /30 or wider loses its network and broadcast addresses
//	      - 10.210.39.10-10.210.39.20
//	    namespaces: [team-a, team-b] # optional: only Services in these namespaces may use it;
//	                                 #   empty or absent means every namespace
//	    autoAssign: true             # optional, default true; false means the pool is used only by a
//	                                 #   Service that names it or requests an address in it
//	    avoidBuggyIPs: false         # optional, default false: never hand out addresses ending in .0 or
//	                                 #   .255 (some client firmware mistakes them for broadcast addresses)
//	  - name: private
//	    addresses: [192.168.50.0/24]
//	reserved:                        # optional: addresses never handed out, inside pools or not
//	  - 10.210.38.70                 #   a CIDR here covers its whole block, network and broadcast included
//	  - 10.210.39.15-10.210.39.16
//
// Each addresses or reserved entry holds one item in the syntax of
// ipam.ParseRanges; list several items as several entries. Only IPv4 is
// accepted: kube-keepalived-vip publishes addresses as ConfigMap keys, which
// cannot contain ':'. Pools must not overlap one another. Parse reports every
// problem at once, each naming its pool (by name, or by position when it has
// none) and the bad field or value, so that an operator fixes the file in one
// go and a live reload can keep the old pools while logging why.
//
// # Choosing a pool
//
// A Service may name its pool with the annotation k8s.co/keepalived-pool.
// Otherwise it gets an address from the first auto-assign pool that serves
// its namespace, trying pools that list the namespace before pools that serve
// every namespace, each group in file order (see Config.Candidates). A
// Service may request an address (spec.loadBalancerIP) outside every pool, as
// with the 2017 provider, or inside a pool that serves its namespace; never a
// reserved one (see Config.PermitsRequest).
//
// The single-CIDR setting KEEPALIVED_SERVICE_CIDR still works: FromCIDR turns
// it into one auto-assign pool named "default" serving every namespace.
package poolconfig

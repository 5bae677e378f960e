// Package netns builds a small layer-2 network out of Linux network namespaces, for the
// data-plane test (test/dataplane) and the demo (cmd/demo-dataplane, run by hack/demo.sh):
// a bridge in a namespace of its own, one namespace per cluster node with eth0 on the
// bridge, a client namespace, and more namespaces on the bridge when asked; IPv4, and
// IPv6 beside it when asked (NewDualStack). It runs
// things inside them: commands (ip netns exec), sockets made inside a namespace by
// setns (setns.go), a forwarder from a node's 127.0.0.1 to the host's API server, and
// keepalived-vip-agent as the DaemonSet runs it (host network, agent.go), and a page per
// node that answers with its name (page.go). Its probes (probe.go) take a VIP of either
// family.
//
// It needs root and iproute2 with netns support. Traffic stays inside the namespaces it
// makes; Topology.Remove kills what still runs in them and deletes them.
package netns

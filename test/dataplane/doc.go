// Package dataplane tests the whole system on real networking: network namespaces as
// nodes and a client, joined by a bridge in a namespace of its own (test/netns, which
// the demo shares); a real kube-apiserver and etcd (test/controlplane); the provider;
// and one keepalived-vip-agent per node, run inside its node's namespace as the
// DaemonSet runs it (host network), reaching the API server through a forwarder on the
// node's 127.0.0.1 (test/netns/setns.go). One node's agent runs under exactly the
// DaemonSet's security context (bubblewrap and setpriv, sandbox_test.go).
//
// The bridge carries IPv4 and IPv6 (dualstack_test.go: IPv6 and dual-stack Services).
//
// It needs root, iproute2 with netns support, keepalived, ping, arping, bwrap, setpriv
// and curl. Without them it skips with one line saying what is missing; with
// KCP_REQUIRE_DATAPLANE=1 (set by .ci/run) it fails instead. Traffic stays inside the
// namespaces it makes.
package dataplane

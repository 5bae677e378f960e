// Package dataplane tests the whole system on real networking: network namespaces as
// nodes and a client, joined by a bridge in a namespace of its own; a real
// kube-apiserver and etcd (test/controlplane); the provider; and one
// keepalived-vip-agent per node, which runs in the host namespace (to reach the API
// server on 127.0.0.1) and starts keepalived inside its node's namespace.
//
// It needs root, iproute2 with netns support, keepalived, ping and arping. Without
// them it skips with one line saying what is missing; with KCP_REQUIRE_DATAPLANE=1
// (set by .ci/run) it fails instead. Traffic stays inside the namespaces it makes.
package dataplane

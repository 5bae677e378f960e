// Package node runs what the project ships for a cluster as real pods on one real node:
// the two images built without Docker (hack/images.sh, OCI archives imported into
// containerd), installed with `kubectl apply -k` of manifests/ and manifests/agent/
// through a test overlay that changes only what this machine forces (the API server's
// address, the address pool, the agent's interface and state folder, no kube-proxy
// health check). The node is Debian's containerd and runc with a CNI bridge, and
// kubelet, kube-controller-manager and kube-scheduler built from the Go module proxy
// (hack/nodetools.sh), next to the control plane of test/controlplane.
//
// It needs root, containerd, ctr, runc, the CNI plugins, debootstrap and CA certificates
// (hack/node-prereqs.sh installs them). Without them it skips with one line saying what is
// missing; with KCP_REQUIRE_DATAPLANE=1 (set by .ci/run) it fails instead.
//
// Safety: all state is under one temporary folder; every process is stopped by its PID;
// the sysctls kubelet and the CNI bridge change are put back; no iptables rule is added
// (checked); the API server listens on the test's bridge, kubelet on 127.0.0.1, and the
// agent's VRRP adverts and addresses stay on a veth pair the test makes (198.51.100.0/24,
// TEST-NET-2), whose other end is in a network namespace of its own. A failed or
// interrupted run cleans up as a passing one does.
package node

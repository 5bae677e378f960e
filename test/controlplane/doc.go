// Package controlplane runs a real kube-apiserver and etcd (through
// sigs.k8s.io/controller-runtime/pkg/envtest) with the product's RBAC applied, and
// runs the keepalived-cloud-provider binary against it under its own ServiceAccount.
//
// It is shared by the end-to-end tests (test/e2e) and the demo (hack/demo.sh). Every
// process it starts listens on 127.0.0.1 only (kube-apiserver on Options.BindAddress when
// a caller sets one), and every process it starts is stopped by
// the owner of the handle it returns (ControlPlane.Stop, Provider.Stop or Provider.Kill).
package controlplane

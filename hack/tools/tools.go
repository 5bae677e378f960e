//go:build tools

// Package tools pins the control plane binaries used by tests and the demo.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)

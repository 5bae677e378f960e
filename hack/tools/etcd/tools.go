//go:build tools

// Package tools pins the etcd server used by tests and the demo.
package tools

import _ "go.etcd.io/etcd/server/v3"

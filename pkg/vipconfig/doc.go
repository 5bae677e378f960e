// Package vipconfig holds the contract of the ConfigMap that kube-keepalived-vip reads:
// keys are IPv4 addresses, values are "<namespace>/<service>" with an optional
// ":NAT", ":DR" or ":PROXY" suffix. It also records which keys this provider owns, so
// entries written by people or other tools are never changed or deleted.
package vipconfig

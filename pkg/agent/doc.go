// Package agent is keepalived-vip-agent: a node agent that reads the VIP ConfigMap the
// provider writes (kube-keepalived-vip's format), renders keepalived.conf from it and
// runs keepalived, so that every address is on one healthy node and announced on the
// segment with VRRP. Forwarding is left to the cluster's service proxy (ipMode VIP).
package agent

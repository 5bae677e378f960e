// Package placement decides which VRRP instance carries each VIP, which nodes take
// part in it and with which priority this node runs it. It holds no API client and
// knows no keepalived syntax: every agent computes the same answer from the same
// ConfigMap, Services, EndpointSlices and Nodes, which is what keeps their
// keepalived.conf files in agreement.
package placement

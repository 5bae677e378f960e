// Package vrrpwatch notices other VRRP speakers on the virtual router IDs the agent
// reserved. VRIDs are shared by every VRRP user of an L2 segment; when another router
// uses one of ours, keepalived only logs "bogus VRRP packet" while the VIPs flap. This
// package reads adverts off the wire beside keepalived (it never answers them), and
// Tracker tells which of them come from routers that are not our peers or carry
// addresses that are not ours. It knows nothing about Kubernetes.
package vrrpwatch

// Package keepalived drives Debian's keepalived (2.2.x) as the VRRP data plane of the
// node agent: it renders keepalived.conf, supervises keepalived as a child process,
// removes addresses a dead keepalived left behind, and reads instance states from
// keepalived's notify FIFO. It knows nothing about Kubernetes.
package keepalived

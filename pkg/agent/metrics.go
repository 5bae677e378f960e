package agent

import (
	"k8s.io/component-base/metrics"
)

// Metrics are the agent's Prometheus metrics, registered on their own registry.
type Metrics struct {
	Registry          metrics.KubeRegistry
	VIPs              *metrics.Gauge
	MasterVIPs        *metrics.Gauge
	InstanceMaster    *metrics.GaugeVec
	BadEntries        *metrics.Gauge
	ConfigMapPresent  *metrics.Gauge
	Reloads           *metrics.Counter
	KeepalivedUp      *metrics.Gauge
	KeepalivedExits   *metrics.Counter
	StaleVIPsRemoved  *metrics.Counter
	ProxyHealthy      *metrics.Gauge
	HealthCheckErrors *metrics.Counter
	VIPAnnounced      *metrics.GaugeVec
	Unannounced       *metrics.GaugeVec
	NodeExcluded      *metrics.Gauge
	ForeignSpeakers   *metrics.Gauge
	ForeignAdverts    *metrics.Counter
	VRRPWatchUp       *metrics.Gauge
	IPVSNoStrictARP   *metrics.Gauge
}

const subsystem = "keepalived_vip_agent"

func gauge(name, help string) *metrics.Gauge {
	return metrics.NewGauge(&metrics.GaugeOpts{Subsystem: subsystem, Name: name, Help: help, StabilityLevel: metrics.ALPHA})
}

func counter(name, help string) *metrics.Counter {
	return metrics.NewCounter(&metrics.CounterOpts{Subsystem: subsystem, Name: name, Help: help, StabilityLevel: metrics.ALPHA})
}

// NewMetrics creates and registers the metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry:         metrics.NewKubeRegistry(),
		VIPs:             gauge("vips", "VIPs in keepalived.conf: every usable entry of the ConfigMap."),
		MasterVIPs:       gauge("master_vips", "VIPs this node holds: those of the VRRP instances keepalived reports MASTER for."),
		BadEntries:       gauge("bad_entries", "ConfigMap entries skipped because their key or value cannot be read."),
		ConfigMapPresent: gauge("config_map_present", "1 when the VIP ConfigMap exists, 0 when it is missing."),
		Reloads:          counter("reloads_total", "keepalived reloads (SIGHUP) after keepalived.conf changed."),
		KeepalivedUp:     gauge("keepalived_up", "1 while keepalived runs."),
		KeepalivedExits:  counter("keepalived_exits_total", "Times keepalived exited without being asked to (it is restarted)."),
		StaleVIPsRemoved: counter("stale_vips_removed_total", "VIPs a dead keepalived left on the interface, removed before a (re)start."),
		ProxyHealthy:     gauge("proxy_healthy", "1 while the service proxy health check passes (or is off), 0 while this node is demoted."),
		HealthCheckErrors: counter("health_check_failures_total",
			"Failed service proxy health checks."),
		InstanceMaster: metrics.NewGaugeVec(&metrics.GaugeOpts{Subsystem: subsystem, Name: "instance_master",
			Help: "1 when this node is MASTER of the VRRP instance.", StabilityLevel: metrics.ALPHA}, []string{"instance"}),
		VIPAnnounced: metrics.NewGaugeVec(&metrics.GaugeOpts{Subsystem: subsystem, Name: "vip_announced",
			Help: "1 when this node announces the VIP (holds it), 0 when another node or none does; one series per usable ConfigMap entry.", StabilityLevel: metrics.ALPHA}, []string{"vip", "service"}),
		Unannounced: metrics.NewGaugeVec(&metrics.GaugeOpts{Subsystem: subsystem, Name: "unannounced_vips",
			Help: "VIPs no node may announce, by reason: no-ready-endpoint (externalTrafficPolicy Local, no node with an endpoint), instance-cap (more Local node sets than --local-vrrp-instances).", StabilityLevel: metrics.ALPHA}, []string{"reason"}),
		NodeExcluded:    gauge("node_excluded", "1 while this node is labelled node.kubernetes.io/exclude-from-external-load-balancers and holds no VIP."),
		ForeignSpeakers: gauge("foreign_vrrp_speakers", "VRRP routers heard in the last 10s on one of our virtual router IDs that are not our peers or carry addresses that are not ours."),
		ForeignAdverts:  counter("foreign_vrrp_adverts_total", "VRRP adverts received on one of our virtual router IDs from a foreign router."),
		VRRPWatchUp:     gauge("vrrp_watch_up", "1 while the agent listens for VRRP adverts to detect virtual router ID collisions."),
		IPVSNoStrictARP: gauge("ipvs_without_strict_arp", "1 when kube-proxy runs in IPVS mode (kube-ipvs0 exists) without strictARP: every node then answers ARP for every VIP."),
	}
	m.Registry.MustRegister(m.VIPs, m.MasterVIPs, m.InstanceMaster, m.BadEntries, m.ConfigMapPresent, m.Reloads,
		m.KeepalivedUp, m.KeepalivedExits, m.StaleVIPsRemoved, m.ProxyHealthy, m.HealthCheckErrors,
		m.VIPAnnounced, m.Unannounced, m.NodeExcluded, m.ForeignSpeakers, m.ForeignAdverts, m.VRRPWatchUp, m.IPVSNoStrictARP)
	return m
}

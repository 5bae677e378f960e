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
	}
	m.Registry.MustRegister(m.VIPs, m.MasterVIPs, m.InstanceMaster, m.BadEntries, m.ConfigMapPresent, m.Reloads,
		m.KeepalivedUp, m.KeepalivedExits, m.StaleVIPsRemoved, m.ProxyHealthy, m.HealthCheckErrors)
	return m
}

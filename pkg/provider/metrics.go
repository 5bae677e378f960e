package provider

import (
	"k8s.io/component-base/metrics"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
)

// Metrics are the provider's figures on the controller manager's /metrics endpoint.
type Metrics struct {
	poolSize       *metrics.GaugeVec
	poolInUse      *metrics.GaugeVec
	failures       *metrics.CounterVec
	outsidePools   *metrics.Gauge
	reloadFailures *metrics.Counter
	writes         *metrics.Counter
	configMapBytes *metrics.Gauge
	configMapFill  *metrics.Gauge
	repairs        *metrics.CounterVec
	notices        *metrics.CounterVec
	blocked        *metrics.Gauge
}

// NewMetrics creates the metrics and registers them with register (legacyregistry.MustRegister
// in the binary, a private registry in tests).
func NewMetrics(register func(...metrics.Registerable)) *Metrics {
	m := &Metrics{
		poolSize: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Name: "keepalived_pool_addresses",
			Help: "Addresses a pool can hand out.",
		}, []string{"pool"}),
		poolInUse: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Name: "keepalived_pool_addresses_in_use",
			Help: "Addresses of a pool held by Services, requests, hand-written entries or the reserved list.",
		}, []string{"pool"}),
		failures: metrics.NewCounterVec(&metrics.CounterOpts{
			Name: "keepalived_pool_allocation_failures_total",
			Help: "Services that could not get an address, by pool and reason (exhausted, in_use, not_allowed, configmap_full).",
		}, []string{"pool", "reason"}),
		outsidePools: metrics.NewGauge(&metrics.GaugeOpts{
			Name: "keepalived_addresses_outside_pools",
			Help: "Addresses published for Services that lie outside every pool (requested there, or left by a pool change).",
		}),
		reloadFailures: metrics.NewCounter(&metrics.CounterOpts{
			Name: "keepalived_pools_reload_failures_total",
			Help: "Edits of the pools file that were refused; the previous pools stayed in force.",
		}),
		writes: metrics.NewCounter(&metrics.CounterOpts{
			Name: "keepalived_configmap_writes_total",
			Help: "Writes of the vip ConfigMap; each carries every change made since the previous one.",
		}),
		configMapBytes: metrics.NewGauge(&metrics.GaugeOpts{
			Name: "keepalived_configmap_bytes",
			Help: "Size of the vip ConfigMap's data and annotations after the last write.",
		}),
		configMapFill: metrics.NewGauge(&metrics.GaugeOpts{
			Name: "keepalived_configmap_fill_ratio",
			Help: "How full the vip ConfigMap is against the Kubernetes size limits (1 = no new address fits).",
		}),
		repairs: metrics.NewCounterVec(&metrics.CounterOpts{
			Name: "keepalived_configmap_repairs_total",
			Help: "Changes by others to the vip ConfigMap that were reverted, by what changed (configmap_deleted, entry, annotation).",
		}, []string{"what"}),
		notices: metrics.NewCounterVec(&metrics.CounterOpts{
			Name: "keepalived_ledger_notices_total",
			Help: "Things the provider reported with a Warning event or log line, by reason.",
		}, []string{"reason"}),
		blocked: metrics.NewGauge(&metrics.GaugeOpts{
			Name: "keepalived_addresses_blocked_by_foreign_keys",
			Help: "Addresses Services hold whose entry someone else's ConfigMap key blocks.",
		}),
	}
	register(m.poolSize, m.poolInUse, m.failures, m.outsidePools, m.reloadFailures,
		m.writes, m.configMapBytes, m.configMapFill, m.repairs, m.notices, m.blocked)
	return m
}

// observe publishes the ledger's figures; pools that disappeared are dropped.
func (m *Metrics) observe(s ledger.Stats) {
	m.poolSize.Reset()
	m.poolInUse.Reset()
	for _, u := range s.Pools {
		m.poolSize.WithLabelValues(u.Name).Set(float64(u.Size))
		m.poolInUse.WithLabelValues(u.Name).Set(float64(u.InUse))
	}
	m.outsidePools.Set(float64(s.Outside))
	m.configMapFill.Set(s.Fill())
	m.blocked.Set(float64(s.BlockedByKeys))
}

func (m *Metrics) failed(pool, reason string) { m.failures.WithLabelValues(pool, reason).Inc() }
func (m *Metrics) repaired(what string)       { m.repairs.WithLabelValues(what).Inc() }
func (m *Metrics) noticed(reason string)      { m.notices.WithLabelValues(reason).Inc() }

func (m *Metrics) wrote(size int) {
	m.writes.Inc()
	m.configMapBytes.Set(float64(size))
}

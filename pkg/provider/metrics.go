package provider

import (
	"k8s.io/component-base/metrics"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Metrics are the provider's figures on the controller manager's /metrics endpoint.
type Metrics struct {
	fams           [len(families)]*familyMetrics
	failures       *metrics.CounterVec
	reloadFailures *metrics.Counter
	repairs        *metrics.CounterVec
	notices        *metrics.CounterVec
}

// familyMetrics are the figures of one family's pools and ConfigMap. The IPv4 ones
// keep the names they always had; the IPv6 ones are named keepalived_ipv6_*.
type familyMetrics struct {
	poolSize       *metrics.GaugeVec
	poolInUse      *metrics.GaugeVec
	outsidePools   *metrics.Gauge
	writes         *metrics.Counter
	configMapBytes *metrics.Gauge
	configMapFill  *metrics.Gauge
	blocked        *metrics.Gauge
}

// NewMetrics creates the metrics and registers them with register (legacyregistry.MustRegister
// in the binary, a private registry in tests).
func NewMetrics(register func(...metrics.Registerable)) *Metrics {
	m := &Metrics{
		failures: metrics.NewCounterVec(&metrics.CounterOpts{
			Name: "keepalived_pool_allocation_failures_total",
			Help: "Services that could not get an address, by pool and reason (exhausted, in_use, not_allowed, configmap_full).",
		}, []string{"pool", "reason"}),
		reloadFailures: metrics.NewCounter(&metrics.CounterOpts{
			Name: "keepalived_pools_reload_failures_total",
			Help: "Edits of the pools file that were refused; the previous pools stayed in force.",
		}),
		repairs: metrics.NewCounterVec(&metrics.CounterOpts{
			Name: "keepalived_configmap_repairs_total",
			Help: "Changes by others to the vip ConfigMaps that were reverted, by what changed (configmap_deleted, entry, annotation).",
		}, []string{"what"}),
		notices: metrics.NewCounterVec(&metrics.CounterOpts{
			Name: "keepalived_ledger_notices_total",
			Help: "Things the provider reported with a Warning event or log line, by reason.",
		}, []string{"reason"}),
	}
	register(m.failures, m.reloadFailures, m.repairs, m.notices)
	m.fams[vipconfig.IPv4] = newFamilyMetrics("keepalived_", "", "vip ConfigMap", register)
	m.fams[vipconfig.IPv6] = newFamilyMetrics("keepalived_ipv6_", "IPv6 ", "IPv6 vip ConfigMap", register)
	return m
}

// newFamilyMetrics names one family's metrics with prefix, and their help with
// fam ("" or "IPv6 ") and the ConfigMap's description cm.
func newFamilyMetrics(prefix, fam, cm string, register func(...metrics.Registerable)) *familyMetrics {
	f := &familyMetrics{
		poolSize: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Name: prefix + "pool_addresses",
			Help: fam + "Addresses a pool can hand out.",
		}, []string{"pool"}),
		poolInUse: metrics.NewGaugeVec(&metrics.GaugeOpts{
			Name: prefix + "pool_addresses_in_use",
			Help: fam + "Addresses of a pool held by Services, requests, hand-written entries or the reserved list.",
		}, []string{"pool"}),
		outsidePools: metrics.NewGauge(&metrics.GaugeOpts{
			Name: prefix + "addresses_outside_pools",
			Help: fam + "Addresses published for Services that lie outside every pool (requested there, or left by a pool change).",
		}),
		writes: metrics.NewCounter(&metrics.CounterOpts{
			Name: prefix + "configmap_writes_total",
			Help: "Writes of the " + cm + "; each carries every change made since the previous one.",
		}),
		configMapBytes: metrics.NewGauge(&metrics.GaugeOpts{
			Name: prefix + "configmap_bytes",
			Help: "Size of the " + cm + "'s data and annotations after the last write.",
		}),
		configMapFill: metrics.NewGauge(&metrics.GaugeOpts{
			Name: prefix + "configmap_fill_ratio",
			Help: "How full the " + cm + " is against the Kubernetes size limits (1 = no new address fits).",
		}),
		blocked: metrics.NewGauge(&metrics.GaugeOpts{
			Name: prefix + "addresses_blocked_by_foreign_keys",
			Help: fam + "Addresses Services hold whose entry someone else's ConfigMap key blocks.",
		}),
	}
	register(f.poolSize, f.poolInUse, f.outsidePools, f.writes, f.configMapBytes, f.configMapFill, f.blocked)
	return f
}

// observe publishes a ledger's figures; pools that disappeared are dropped.
func (m *Metrics) observe(s ledger.Stats) {
	f := m.fams[s.Family]
	f.poolSize.Reset()
	f.poolInUse.Reset()
	for i, u := range s.Pools {
		size := float64(u.Size)
		if i < len(s.PoolSizes) {
			size = s.PoolSizes[i] // exact: an IPv6 pool may pass 2^64
		}
		f.poolSize.WithLabelValues(u.Name).Set(size)
		f.poolInUse.WithLabelValues(u.Name).Set(float64(u.InUse))
	}
	f.outsidePools.Set(float64(s.Outside))
	f.configMapFill.Set(s.Fill())
	f.blocked.Set(float64(s.BlockedByKeys))
}

func (m *Metrics) failed(pool, reason string) { m.failures.WithLabelValues(pool, reason).Inc() }
func (m *Metrics) repaired(what string)       { m.repairs.WithLabelValues(what).Inc() }
func (m *Metrics) noticed(reason string)      { m.notices.WithLabelValues(reason).Inc() }

func (m *Metrics) wrote(fam vipconfig.Family, size int) {
	m.fams[fam].writes.Inc()
	m.fams[fam].configMapBytes.Set(float64(size))
}

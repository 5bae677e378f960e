package provider

import (
	"k8s.io/component-base/metrics"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
)

// Failure reasons counted by keepalived_pool_allocation_failures_total.
const (
	reasonExhausted  = "exhausted"   // no free address in the Service's pools
	reasonInUse      = "in_use"      // the requested address is held by someone else
	reasonNotAllowed = "not_allowed" // the pool or address is not open to the Service's namespace
)

// Metrics are the provider's figures on the controller manager's /metrics endpoint.
type Metrics struct {
	poolSize       *metrics.GaugeVec
	poolInUse      *metrics.GaugeVec
	failures       *metrics.CounterVec
	outsidePools   *metrics.Gauge
	reloadFailures *metrics.Counter
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
			Help: "Services that could not get an address, by pool and reason (exhausted, in_use, not_allowed).",
		}, []string{"pool", "reason"}),
		outsidePools: metrics.NewGauge(&metrics.GaugeOpts{
			Name: "keepalived_addresses_outside_pools",
			Help: "Addresses published for Services that lie outside every pool (requested there, or left by a pool change).",
		}),
		reloadFailures: metrics.NewCounter(&metrics.CounterOpts{
			Name: "keepalived_pools_reload_failures_total",
			Help: "Edits of the pools file that were refused; the previous pools stayed in force.",
		}),
	}
	register(m.poolSize, m.poolInUse, m.failures, m.outsidePools, m.reloadFailures)
	return m
}

// observeUsage publishes per-pool figures; pools that disappeared are dropped.
func (m *Metrics) observeUsage(usage []ipam.PoolUsage, outside int) {
	m.poolSize.Reset()
	m.poolInUse.Reset()
	for _, u := range usage {
		m.poolSize.WithLabelValues(u.Name).Set(float64(u.Size))
		m.poolInUse.WithLabelValues(u.Name).Set(float64(u.InUse))
	}
	m.outsidePools.Set(float64(outside))
}

func (m *Metrics) failed(pool, reason string) { m.failures.WithLabelValues(pool, reason).Inc() }

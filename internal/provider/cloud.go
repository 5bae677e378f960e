package provider

import (
	"k8s.io/client-go/informers"
	cloudprovider "k8s.io/cloud-provider"
)

// ProviderName is the value of --cloud-provider that selects this provider.
const ProviderName = "keepalived"

// Cloud is the cloudprovider.Interface of keepalived-cloud-provider. Only LoadBalancer is
// implemented: nodes, zones and routes belong to the machines, not to us.
type Cloud struct {
	cfg     Config
	metrics *Metrics
	lb      *LoadBalancer
}

var (
	_ cloudprovider.Interface    = (*Cloud)(nil)
	_ cloudprovider.InformerUser = (*Cloud)(nil)
)

// NewCloud returns a provider for a validated configuration.
func NewCloud(cfg Config, m *Metrics) *Cloud { return &Cloud{cfg: cfg, metrics: m} }

// Initialize builds the API client; it runs once this instance leads.
// A pools file is watched from here on, so edits apply without a restart.
func (c *Cloud) Initialize(clients cloudprovider.ControllerClientBuilder, stop <-chan struct{}) {
	c.lb = NewLoadBalancer(c.cfg, clients.ClientOrDie("keepalived-cloud-provider"), c.metrics)
	if c.cfg.PoolsFile != "" {
		go c.lb.watchPoolsFile(c.cfg.PoolsFile, poolsFilePoll, stop)
	}
}

// SetInformers lets the load balancer learn the addresses Services request before their
// turn in the service controller's queue comes.
func (c *Cloud) SetInformers(factory informers.SharedInformerFactory) {
	c.lb.watchRequests(factory.Core().V1().Services().Informer())
}

func (c *Cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool) { return c.lb, true }

func (c *Cloud) Instances() (cloudprovider.Instances, bool)     { return nil, false }
func (c *Cloud) InstancesV2() (cloudprovider.InstancesV2, bool) { return nil, false }
func (c *Cloud) Zones() (cloudprovider.Zones, bool)             { return nil, false }
func (c *Cloud) Clusters() (cloudprovider.Clusters, bool)       { return nil, false }
func (c *Cloud) Routes() (cloudprovider.Routes, bool)           { return nil, false }
func (c *Cloud) ProviderName() string                           { return ProviderName }

// HasClusterID is true: addresses are not tagged per cluster, so there is nothing to require.
func (c *Cloud) HasClusterID() bool { return true }

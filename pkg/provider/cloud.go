package provider

import (
	"context"
	"fmt"

	"k8s.io/client-go/informers"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/fencing"
	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
	"github.com/munnerz/keepalived-cloud-provider/pkg/nodes"
	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// ProviderName is the value of --cloud-provider that selects this provider.
const ProviderName = "keepalived"

// configMapCapacity is what our entries may take of the ConfigMap: the API server
// refuses data over 1 MiB and annotations over 256 KiB; the rest is kept for
// entries others write, the usage summary and object metadata.
var configMapCapacity = ledger.Size{Data: 1<<20 - 64<<10, Annotation: 256<<10 - 16<<10}

// Cloud is the cloudprovider.Interface of keepalived-cloud-provider: LoadBalancer, and
// InstancesV2 from what each Node says of itself (used only when the operator enables the
// node controllers); zones and routes belong to the machines, not to us.
type Cloud struct {
	cfg     Config
	metrics *Metrics
	fence   *fencing.Fence // nil without leader election
	lb      *LoadBalancer
	run     *runtime
}

var (
	_ cloudprovider.Interface    = (*Cloud)(nil)
	_ cloudprovider.InformerUser = (*Cloud)(nil)
)

// NewCloud returns a provider for a validated configuration; fence (nil without
// leader election) keeps it from acting while it is not certain to lead.
func NewCloud(cfg Config, m *Metrics, fence *fencing.Fence) *Cloud {
	return &Cloud{cfg: cfg, metrics: m, fence: fence}
}

// Initialize runs once this instance leads. Everything is built from what the
// cluster and the pools file say now, not from what this process read at start:
// a standby may have waited for hours.
func (c *Cloud) Initialize(clients cloudprovider.ControllerClientBuilder, stop <-chan struct{}) {
	client := clients.ClientOrDie("keepalived-cloud-provider")
	pools := poolsAtStart{pools: c.cfg.Pools}
	if c.cfg.PoolsFile != "" {
		pools = c.currentPools()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stop; cancel() }()
	c.run = newRuntime(ctx, c.cfg, pools, client, c.metrics, c.fence)
	c.lb = c.run.lb
	if c.cfg.PoolsFile != "" {
		go c.run.watchPoolsFile(c.cfg.PoolsFile, poolsFilePoll, pools.content, stop)
	}
}

// poolsAtStart are the pools in force when leading starts: the file's, or none
// (err says why) while it does not read or validate.
type poolsAtStart struct {
	pools   *poolconfig.Config
	err     error
	content string // what the watcher starts from
}

// currentPools reads the pools file as it is now. A file that no longer reads or
// validates puts no pools in force: any copy read earlier may hold pools the
// operator has removed since. Addresses that statuses show stay; nothing new is
// handed out until the file is valid again.
func (c *Cloud) currentPools() poolsAtStart {
	path := c.cfg.PoolsFile
	content, data, err := readPoolsFile(path)
	var pools *poolconfig.Config
	if err == nil {
		var warnings []string
		pools, warnings, err = poolconfig.ParseDualStack(data)
		for _, w := range warnings {
			klog.InfoS("Adjusted pools file entry", "file", path, "warning", w)
		}
	}
	if err != nil {
		err = fmt.Errorf("pools file %s: %w", path, err)
		klog.ErrorS(err, "Pools file is unreadable or invalid; no new addresses are handed out until it is valid again", "file", path)
		c.metrics.reloadFailures.Inc()
		return poolsAtStart{err: err, content: content}
	}
	return poolsAtStart{pools: pools, content: content}
}

// SetInformers hooks the ledgers to the Services informer the controller manager
// already runs: no second cluster-wide LIST.
func (c *Cloud) SetInformers(factory informers.SharedInformerFactory) {
	c.run.watchServices(factory.Core().V1().Services().Informer())
}

func (c *Cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool) { return c.lb, true }

func (c *Cloud) Instances() (cloudprovider.Instances, bool)     { return nil, false }
func (c *Cloud) InstancesV2() (cloudprovider.InstancesV2, bool) { return nodes.Instances{}, true }
func (c *Cloud) Zones() (cloudprovider.Zones, bool)             { return nil, false }
func (c *Cloud) Clusters() (cloudprovider.Clusters, bool)       { return nil, false }
func (c *Cloud) Routes() (cloudprovider.Routes, bool)           { return nil, false }
func (c *Cloud) ProviderName() string                           { return ProviderName }

// HasClusterID is true: addresses are not tagged per cluster, so there is nothing to require.
func (c *Cloud) HasClusterID() bool { return true }

// ledgerOptions are the rules of family fam's ledger from the configuration.
func ledgerOptions(cfg Config, pools poolsAtStart, fam vipconfig.Family) ledger.Options {
	return ledger.Options{
		Pools:             pools.pools,
		PoolsErr:          pools.err,
		AllowOutsidePools: cfg.AllowOutside,
		OutsideHint:       OutsideHint,
		Forbidden:         cfg.ClusterIPs,
		ConfigMap:         cfg.Namespace + "/" + cfg.configMapOf(fam),
		Capacity:          configMapCapacity,
		Family:            fam,
	}
}

package provider

import (
	"context"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/internal/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/internal/vipconfig"
)

// poolsFilePoll is how often the pools file is read for changes. Polling the content
// (not watching inodes) follows the symlink swaps of a mounted ConfigMap.
const poolsFilePoll = 2 * time.Second

// watchPoolsFile applies each new content of path until stop closes. A file that does
// not read or validate leaves the pools in force as they are. Nothing counts as applied
// at first: the file may have changed between the start of the process and this
// instance becoming leader (a standby can wait for hours).
func (l *LoadBalancer) watchPoolsFile(path string, every time.Duration, stop <-chan struct{}) {
	var last string
	seen := false
	wait.Until(func() {
		data, err := os.ReadFile(path)
		content := string(data)
		if err != nil {
			content = "\x00" + err.Error() // report each distinct failure once
		}
		if seen && content == last {
			return
		}
		seen, last = true, content
		if err != nil {
			klog.ErrorS(err, "Cannot read the pools file; keeping the pools in force", "file", path)
			l.metrics.reloadFailures.Inc()
			return
		}
		l.applyPoolsFile(path, data)
	}, every, stop)
}

func (l *LoadBalancer) applyPoolsFile(path string, data []byte) {
	cfg, warnings, err := poolconfig.Parse(data)
	if err != nil {
		klog.ErrorS(err, "Pools file changed but is invalid; keeping the pools in force", "file", path)
		l.metrics.reloadFailures.Inc()
		return
	}
	for _, w := range warnings {
		klog.InfoS("Adjusted pools file entry", "file", path, "warning", w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l.SetPools(ctx, cfg)
}

// SetPools puts new pools in force. Every held address stays with its holder; addresses
// that fall outside every pool keep working and are reported.
func (l *LoadBalancer) SetPools(ctx context.Context, pools *poolconfig.Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state
	if s == nil {
		l.pools = pools // restoring will use them
		klog.InfoS("Address pools changed", "pools", len(pools.Pools))
		return
	}
	prev := s.alloc
	next, _, err := prev.Repool(pools.IPAMPools()...)
	if err != nil {
		klog.ErrorS(err, "New address pools refused; keeping the pools in force")
		l.metrics.reloadFailures.Inc()
		return
	}
	l.pools, s.alloc, s.pools = pools, next, pools
	for key, addr := range s.assigned {
		_, was := prev.PoolOf(addr)
		if _, is := next.PoolOf(addr); was && !is {
			klog.InfoS("Address lies outside every pool now; it stays with its Service and is not handed to anyone else", "service", key, "address", addr)
		}
	}
	l.observeUsage()
	usage := s.usageSummary()
	if _, err := l.store.Apply(ctx, vipconfig.Change{Usage: usage}); err != nil {
		klog.ErrorS(err, "Cannot record pool usage in the ConfigMap")
	}
	klog.InfoS("Address pools changed", "pools", len(pools.Pools), "usage", usage)
}

package provider

import (
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/internal/poolconfig"
)

// poolsFilePoll is how often the pools file is read for changes. Polling the content
// (not watching inodes) follows the symlink swaps of a mounted ConfigMap.
const poolsFilePoll = 2 * time.Second

// watchPoolsFile applies each new content of path until stop closes. A file that does
// not read or validate leaves the pools in force as they are. The first read counts
// as a change: the file may have changed since Initialize read it.
func (r *runtime) watchPoolsFile(path string, every time.Duration, stop <-chan struct{}) {
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
			r.metrics.reloadFailures.Inc()
			return
		}
		r.applyPoolsFile(path, data)
	}, every, stop)
}

func (r *runtime) applyPoolsFile(path string, data []byte) {
	cfg, warnings, err := poolconfig.Parse(data)
	if err != nil {
		klog.ErrorS(err, "Pools file changed but is invalid; keeping the pools in force", "file", path)
		r.metrics.reloadFailures.Inc()
		return
	}
	for _, w := range warnings {
		klog.InfoS("Adjusted pools file entry", "file", path, "warning", w)
	}
	if err := r.ledger.SetPools(cfg); err != nil {
		klog.ErrorS(err, "New address pools refused; keeping the pools in force")
		r.metrics.reloadFailures.Inc()
		return
	}
	r.metrics.observe(r.ledger.Stats())
	r.writer.Kick()
	klog.InfoS("Address pools changed", "pools", len(cfg.Pools))
}

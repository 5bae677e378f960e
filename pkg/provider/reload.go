package provider

import (
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
)

// poolsFilePoll is how often the pools file is read for changes. Polling the content
// (not watching inodes) follows the symlink swaps of a mounted ConfigMap.
const poolsFilePoll = 2 * time.Second

// watchPoolsFile applies each new content of path until stop closes, starting from
// the content Initialize read as it started leading. A file that does not read or
// validate leaves the pools in force as they are.
func (r *runtime) watchPoolsFile(path string, every time.Duration, last string, stop <-chan struct{}) {
	wait.Until(func() {
		content, data, err := readPoolsFile(path)
		if content == last {
			return
		}
		last = content
		if err != nil {
			klog.ErrorS(err, "Cannot read the pools file; keeping the pools in force", "file", path)
			r.metrics.reloadFailures.Inc()
			return
		}
		r.applyPoolsFile(path, data)
	}, every, stop)
}

// readPoolsFile reads the file; content tells one version (or one failure) from another.
func readPoolsFile(path string) (content string, data []byte, err error) {
	data, err = os.ReadFile(path)
	if err != nil {
		return "\x00" + err.Error(), nil, err // report each distinct failure once
	}
	return string(data), data, nil
}

func (r *runtime) applyPoolsFile(path string, data []byte) {
	cfg, warnings, err := poolconfig.ParseDualStack(data)
	if err != nil {
		klog.ErrorS(err, "Pools file changed but is invalid; keeping the pools in force", "file", path)
		r.metrics.reloadFailures.Inc()
		return
	}
	for _, w := range warnings {
		klog.InfoS("Adjusted pools file entry", "file", path, "warning", w)
	}
	for _, fr := range r.fams {
		if err := fr.ledger.SetPools(cfg); err != nil {
			klog.ErrorS(err, "New address pools refused; keeping the pools in force", "family", fr.fam)
			r.metrics.reloadFailures.Inc()
			continue
		}
		r.metrics.observe(fr.ledger.Stats())
		fr.writer.Kick()
	}
	klog.InfoS("Address pools changed", "pools", len(cfg.Pools))
}

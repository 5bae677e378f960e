package agent

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/klog/v2"
)

// failuresToDemote is how many failed checks in a row demote the node: one slow answer
// must not move every VIP.
const failuresToDemote = 3

// checkHealth probes the service proxy until ctx ends and keeps the health file that
// keepalived tracks up to date: while it says 1 the node's priority drops below every
// healthy node's, so a node that cannot forward gives its VIPs away.
func (a *Agent) checkHealth(ctx context.Context) {
	client := &http.Client{Timeout: min(a.cfg.HealthCheckInterval, 2*time.Second)}
	failures, healthy := failuresToDemote, false // as bootHealth wrote
	ticker := time.NewTicker(a.cfg.HealthCheckInterval)
	defer ticker.Stop()
	for {
		err := probe(ctx, client, a.cfg.HealthCheckURL)
		if err == nil {
			failures = 0
		} else {
			failures++
			a.metrics.HealthCheckErrors.Inc()
		}
		if now := failures < failuresToDemote; now != healthy {
			healthy = now
			klog.InfoS("Service proxy health changed", "healthy", healthy, "url", a.cfg.HealthCheckURL, "err", err)
			if werr := a.writeHealth(healthy); werr != nil {
				klog.ErrorS(werr, "Updating the health file")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// bootHealth sets the state a node starts in: unhealthy until the first check passes,
// so that a booting node does not win; healthy when the check is off (nothing demotes
// the node then).
func (a *Agent) bootHealth() error {
	if a.cfg.HealthCheckURL == "" {
		a.metrics.ProxyHealthy.Set(1)
		return nil
	}
	return a.writeHealth(false)
}

// writeHealth writes the value keepalived multiplies by the track_file weight.
func (a *Agent) writeHealth(healthy bool) error {
	value := "1\n"
	if healthy {
		value = "0\n"
	}
	a.metrics.ProxyHealthy.Set(boolGauge(healthy))
	if err := os.WriteFile(a.path(healthFile), []byte(value), 0o644); err != nil {
		return fmt.Errorf("writing the health file: %w", err)
	}
	return nil
}

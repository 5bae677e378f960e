package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/testutil"
)

// preparedAgent is an agent after prepare, with its health check at url ("" for off).
func preparedAgent(t *testing.T, url string) *Agent {
	t.Helper()
	cfg := goldenConfig()
	cfg.ConfigDir, cfg.HealthCheckURL, cfg.HealthCheckInterval = t.TempDir(), url, 10*time.Millisecond
	a := New(cfg, nil, NewMetrics())
	fifo, err := a.prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fifo.Close() })
	return a
}

func proxyHealthy(t *testing.T, a *Agent) float64 {
	t.Helper()
	v, err := testutil.GetGaugeMetricValue(a.metrics.ProxyHealthy)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func healthFileOf(t *testing.T, a *Agent) string {
	t.Helper()
	data, err := os.ReadFile(a.path(healthFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestBootHealth(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		wantGauge float64
		wantFile  string // "" for no file
	}{
		{name: "check on: demoted until a check passes", url: "http://127.0.0.1:1/healthz", wantGauge: 0, wantFile: "1\n"},
		{name: "check off: never demoted", url: "", wantGauge: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := preparedAgent(t, tt.url)
			if got := proxyHealthy(t, a); got != tt.wantGauge {
				t.Errorf("proxy_healthy = %v at boot, want %v", got, tt.wantGauge)
			}
			if tt.wantFile == "" {
				if _, err := os.Stat(a.path(healthFile)); !os.IsNotExist(err) {
					t.Errorf("health file: %v, want none with the check off", err)
				}
				return
			}
			if got := healthFileOf(t, a); got != tt.wantFile {
				t.Errorf("health file = %q, want %q", got, tt.wantFile)
			}
		})
	}
}

func TestCheckHealth(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		wantGauge float64
		wantFile  string
	}{
		{name: "a passing check promotes the node", status: http.StatusOK, wantGauge: 1, wantFile: "0\n"},
		{name: "failing checks keep it demoted", status: http.StatusServiceUnavailable, wantGauge: 0, wantFile: "1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.status) }))
			defer srv.Close()
			a := preparedAgent(t, srv.URL)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); a.checkHealth(ctx) }()
			// Wait for the node to be promoted, or for enough failures to demote it.
			err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
				failures, err := testutil.GetCounterMetricValue(a.metrics.HealthCheckErrors)
				return proxyHealthy(t, a) == 1 || failures >= failuresToDemote+1, err
			})
			cancel()
			<-done
			if err != nil {
				t.Fatal(err)
			}
			if got := proxyHealthy(t, a); got != tt.wantGauge {
				t.Errorf("proxy_healthy = %v, want %v", got, tt.wantGauge)
			}
			if got := healthFileOf(t, a); got != tt.wantFile {
				t.Errorf("health file = %q, want %q", got, tt.wantFile)
			}
		})
	}
}

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// TestBadConfiguration: an invalid configuration stops the process at once, non-zero,
// with a message naming every bad variable and value; --version needs no configuration.
func TestBadConfiguration(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		args     []string
		bare     bool // only args, none of the standard flags
		wantCode int
		want     []string
	}{{
		name:     "link-local IPv6 pool and unknown forward method",
		env:      []string{"KEEPALIVED_SERVICE_CIDR=fe80::/64", "KEEPALIVED_DEFAULT_FORWARD_METHOD=TUN"},
		wantCode: 1,
		want:     []string{"KEEPALIVED_SERVICE_CIDR", "fe80::/64", "link-local", "KEEPALIVED_DEFAULT_FORWARD_METHOD", "TUN"},
	}, {
		name:     "IPv6 ConfigMap named as the first",
		env:      []string{"KEEPALIVED_SERVICE_CIDR=10.210.10.0/24,fd00:10::/120", "KEEPALIVED_CONFIG_MAP_IPV6=vip-configmap"},
		wantCode: 1,
		want:     []string{"KEEPALIVED_CONFIG_MAP_IPV6", "--keepalived-config-map-ipv6", `"vip-configmap"`, "a ConfigMap of their own"},
	}, {
		name:     "no pool",
		wantCode: 1,
		want:     []string{"KEEPALIVED_SERVICE_CIDR", "required"},
	}, {
		name:     "flag overrides a valid variable",
		env:      []string{"KEEPALIVED_SERVICE_CIDR=10.210.10.0/24"},
		args:     []string{"--keepalived-service-cidr=10.210.10.0/33"},
		wantCode: 1,
		want:     []string{"--keepalived-service-cidr", "10.210.10.0/33"},
	}, {
		name:     "bad ConfigMap name",
		env:      []string{"KEEPALIVED_SERVICE_CIDR=10.210.10.0/24", "KEEPALIVED_CONFIG_MAP=Not_A_Name"},
		wantCode: 1,
		want:     []string{"KEEPALIVED_CONFIG_MAP", "Not_A_Name"},
	}, {
		name:     "version",
		args:     []string{"--version"},
		bare:     true,
		wantCode: 0,
		want:     []string{providerVersion},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runToExit(t, controlplane.ProviderOptions{
				Binary:          providerBinary,
				Kubeconfig:      cp.ProviderKubeconfig,
				LogPath:         filepath.Join(outputDir, "bad-configuration", dnsName(tt.name)+".log"),
				Env:             tt.env,
				Args:            tt.args,
				NoStandardFlags: tt.bare,
			})
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.wantCode, out)
			}
			expectMentions(t, out, tt.want...)
		})
	}
}

// runToExit starts a provider that must exit within 10 s and returns its exit code and output.
func runToExit(t *testing.T, opts controlplane.ProviderOptions) (int, string) {
	t.Helper()
	p, err := controlplane.StartProvider(opts)
	if err != nil {
		t.Fatal(err)
	}
	providers.add(p)
	t.Cleanup(func() {
		_ = p.Kill()
		providers.remove(p)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Tail(20))
	}
	return code, p.Output()
}

// expectMentions checks that out contains every one of want.
func expectMentions(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output does not mention %q:\n%s", w, out)
		}
	}
}

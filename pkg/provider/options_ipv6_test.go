package provider

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ipam"
)

// TestIPv6Options: the IPv6 ConfigMap is named after the first unless set (flag over
// variable), must differ from it, and IPv6 pools are read beside IPv4 ones.
func TestIPv6Options(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantCM6 string
		wantErr string
	}{
		{name: "default", wantCM6: "vip-configmap-ipv6"},
		{name: "follows the first", env: map[string]string{EnvConfigMap: "vips"}, wantCM6: "vips-ipv6"},
		{name: "variable", env: map[string]string{EnvConfigMapIPv6: "v6"}, wantCM6: "v6"},
		{name: "flag wins", args: []string{"--keepalived-config-map-ipv6=from-flag"}, env: map[string]string{EnvConfigMapIPv6: "v6"}, wantCM6: "from-flag"},
		{name: "same as the first", env: map[string]string{EnvConfigMapIPv6: "vip-configmap"},
			wantErr: `KEEPALIVED_CONFIG_MAP_IPV6 (--keepalived-config-map-ipv6) "vip-configmap": IPv6 ConfigMap name "vip-configmap" is the legacy ConfigMap's`},
		{name: "not a name", env: map[string]string{EnvConfigMapIPv6: "No_Way"},
			wantErr: `KEEPALIVED_CONFIG_MAP_IPV6 (--keepalived-config-map-ipv6) "No_Way": IPv6 ConfigMap name "No_Way" is not a ConfigMap name`},
		{name: "default too long", env: map[string]string{EnvConfigMap: strings.Repeat("a", 250)},
			wantErr: "shorten the ConfigMap's name or name the IPv6 ConfigMap yourself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{EnvServiceCIDR: "10.0.0.0/24,fd00::/120"}
			for k, v := range tt.env {
				env[k] = v
			}
			var o Options
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			o.Complete(lookupIn(env, ""))
			cfg, _, err := o.Validate()
			if tt.wantErr != "" {
				expectErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if cfg.ConfigMapIPv6 != tt.wantCM6 {
				t.Errorf("IPv6 ConfigMap %q, want %q", cfg.ConfigMapIPv6, tt.wantCM6)
			}
			if p := cfg.Pools.Pools[0]; !p.Has(ipam.IPv4) || !p.Has(ipam.IPv6) {
				t.Errorf("pool %+v, want both families from %s", p, env[EnvServiceCIDR])
			}
		})
	}
}

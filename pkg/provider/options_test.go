package provider

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantNS      string
		wantCM      string
		wantMethod  vipconfig.Method
		wantWarning string
		wantErrs    []string
	}{
		{
			name: "defaults", env: map[string]string{EnvServiceCIDR: "10.210.38.64/26"},
			wantNS: "kube-system", wantCM: "vip-configmap", wantMethod: vipconfig.NAT,
		},
		{
			name:   "environment, method in any case",
			env:    map[string]string{EnvServiceCIDR: "10.0.0.1-10.0.0.9", EnvNamespace: "lb", EnvConfigMap: "vips", EnvForwardMethod: "dr"},
			wantNS: "lb", wantCM: "vips", wantMethod: vipconfig.DR,
		},
		{
			name:   "flag wins over environment",
			args:   []string{"--keepalived-service-cidr=10.0.0.0/24", "--keepalived-default-forward-method=PROXY", "--keepalived-namespace=net"},
			env:    map[string]string{EnvServiceCIDR: "fd00::/64", EnvForwardMethod: "bogus", EnvNamespace: "other"},
			wantNS: "net", wantCM: "vip-configmap", wantMethod: vipconfig.PROXY,
		},
		{
			name: "host bits are dropped with a warning", env: map[string]string{EnvServiceCIDR: "10.210.38.100/26"},
			wantNS: "kube-system", wantCM: "vip-configmap", wantMethod: vipconfig.NAT, wantWarning: "10.210.38.64/26",
		},
		{
			name:     "missing pool",
			wantErrs: []string{`KEEPALIVED_SERVICE_CIDR (--keepalived-service-cidr) "": required unless KEEPALIVED_POOLS_FILE is set`},
		},
		{
			name: "every problem at once",
			env:  map[string]string{EnvServiceCIDR: "fd00::/64", EnvNamespace: "Bad_NS", EnvConfigMap: "no way", EnvForwardMethod: "TUN"},
			wantErrs: []string{
				`KEEPALIVED_SERVICE_CIDR (--keepalived-service-cidr) "fd00::/64"`, "cannot publish IPv6",
				`KEEPALIVED_NAMESPACE (--keepalived-namespace) "Bad_NS": not a namespace name`,
				`KEEPALIVED_CONFIG_MAP (--keepalived-config-map) "no way": not a ConfigMap name`,
				`KEEPALIVED_DEFAULT_FORWARD_METHOD (--keepalived-default-forward-method) "TUN": must be NAT, DR or PROXY`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			o.Complete(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			cfg, warnings, err := o.Validate()
			if len(tt.wantErrs) > 0 {
				for _, want := range tt.wantErrs {
					expectErr(t, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if cfg.Namespace != tt.wantNS || cfg.ConfigMap != tt.wantCM || cfg.DefaultMethod != tt.wantMethod || cfg.Pools == nil || len(cfg.Pools.Pools) == 0 {
				t.Errorf("config = %+v, want namespace %q, ConfigMap %q, method %q and a pool", cfg, tt.wantNS, tt.wantCM, tt.wantMethod)
			}
			if got := strings.Join(warnings, "\n"); !strings.Contains(got, tt.wantWarning) || (tt.wantWarning == "") != (got == "") {
				t.Errorf("warnings = %q, want %q", got, tt.wantWarning)
			}
		})
	}
}

func expectErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want one containing %q", err, want)
	}
}

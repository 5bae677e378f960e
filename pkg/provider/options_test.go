package provider

import (
	"os"
	"path/filepath"
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
		files       map[string]string // written to a temporary directory, {dir} in env
		wantWarning string
		wantErrs    []string
		// wantPoolsErr is in Config.PoolsErr, with no pools and no error.
		wantPoolsErr string
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
			name:   "empty flag wins over environment",
			args:   []string{"--keepalived-pools-file=", "--keepalived-service-cluster-ip-range="},
			env:    map[string]string{EnvServiceCIDR: "10.0.0.0/24", EnvPoolsFile: "/etc/pools.yaml", EnvClusterIPs: "bogus"},
			wantNS: "kube-system", wantCM: "vip-configmap", wantMethod: vipconfig.NAT,
		},
		{
			name:   "pools file",
			env:    map[string]string{EnvPoolsFile: "{dir}/pools.yaml"},
			files:  map[string]string{"pools.yaml": "pools: [{name: a, addresses: [10.0.0.0/24]}]"},
			wantNS: "kube-system", wantCM: "vip-configmap", wantMethod: vipconfig.NAT,
		},
		{
			name:   "invalid pools file is left to the runtime",
			env:    map[string]string{EnvPoolsFile: "{dir}/pools.yaml"},
			files:  map[string]string{"pools.yaml": "pools: [{name: a, addresses: [fe80::/64]}]"},
			wantNS: "kube-system", wantCM: "vip-configmap", wantMethod: vipconfig.NAT, wantPoolsErr: "invalid pools file",
		},
		{
			name:   "missing pools file is left to the runtime",
			env:    map[string]string{EnvPoolsFile: "{dir}/missing.yaml"},
			wantNS: "kube-system", wantCM: "vip-configmap", wantMethod: vipconfig.NAT, wantPoolsErr: "no such file",
		},
		{
			name:     "service CIDR and pools file",
			env:      map[string]string{EnvServiceCIDR: "10.0.0.0/24", EnvPoolsFile: "/etc/pools.yaml"},
			wantErrs: []string{`KEEPALIVED_SERVICE_CIDR (--keepalived-service-cidr) "10.0.0.0/24": give either this or KEEPALIVED_POOLS_FILE (--keepalived-pools-file, "/etc/pools.yaml"), not both`},
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
			env: map[string]string{EnvServiceCIDR: "fe80::/64", EnvNamespace: "Bad_NS", EnvConfigMap: "no way", EnvForwardMethod: "TUN",
				EnvAllowOutside: "maybe", EnvClusterIPs: "10.96.0.0"},
			wantErrs: []string{
				`KEEPALIVED_SERVICE_CIDR (--keepalived-service-cidr) "fe80::/64"`, "link-local",
				`KEEPALIVED_NAMESPACE (--keepalived-namespace) "Bad_NS": not a namespace name`,
				`KEEPALIVED_CONFIG_MAP (--keepalived-config-map) "no way": not a ConfigMap name`,
				`KEEPALIVED_DEFAULT_FORWARD_METHOD (--keepalived-default-forward-method) "TUN": must be NAT, DR or PROXY`,
				`KEEPALIVED_ALLOW_REQUESTS_OUTSIDE_POOLS (--keepalived-allow-requests-outside-pools) "maybe": must be true or false`,
				`KEEPALIVED_SERVICE_CLUSTER_IP_RANGE (--keepalived-service-cluster-ip-range) "10.96.0.0": "10.96.0.0" is not a CIDR such as 10.96.0.0/12`,
			},
		},
		{
			name:     "a bad flag still fails beside an invalid pools file",
			env:      map[string]string{EnvPoolsFile: "{dir}/missing.yaml", EnvNamespace: "Bad_NS"},
			wantErrs: []string{`KEEPALIVED_NAMESPACE (--keepalived-namespace) "Bad_NS": not a namespace name`},
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
			o.Complete(lookupIn(tt.env, writeFiles(t, tt.files)))
			cfg, warnings, err := o.Validate()
			if len(tt.wantErrs) > 0 {
				for _, want := range tt.wantErrs {
					expectErr(t, err, want)
				}
				if err != nil && strings.Contains(err.Error(), "pools file") {
					t.Errorf("error = %v, want none about the pools file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if cfg.Namespace != tt.wantNS || cfg.ConfigMap != tt.wantCM || cfg.DefaultMethod != tt.wantMethod {
				t.Errorf("config = %+v, want namespace %q, ConfigMap %q, method %q", cfg, tt.wantNS, tt.wantCM, tt.wantMethod)
			}
			expectPools(t, cfg, tt.wantPoolsErr)
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

// expectPools checks that cfg has pools, or else no pools and a PoolsErr containing
// wantErr.
func expectPools(t *testing.T, cfg Config, wantErr string) {
	t.Helper()
	if wantErr == "" {
		if cfg.PoolsErr != nil || cfg.Pools == nil || len(cfg.Pools.Pools) == 0 {
			t.Errorf("pools = %+v, PoolsErr = %v; want a pool and no error", cfg.Pools, cfg.PoolsErr)
		}
		return
	}
	if cfg.Pools != nil || cfg.PoolsFile == "" || cfg.PoolsErr == nil || !strings.Contains(cfg.PoolsErr.Error(), wantErr) {
		t.Errorf("pools = %+v from %q, PoolsErr = %v; want no pools and an error containing %q", cfg.Pools, cfg.PoolsFile, cfg.PoolsErr, wantErr)
	}
}

// writeFiles writes files into a new temporary directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// lookupIn looks variables up in env, with {dir} replaced by dir.
func lookupIn(env map[string]string, dir string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return strings.ReplaceAll(v, "{dir}", dir), ok
	}
}

// The controller manager parses our flags through its own flag set, which shares
// them: a flag given there, even empty, must count as given.
func TestCompleteSeesFlagsParsedByTheCommand(t *testing.T) {
	var o Options
	ours := pflag.NewFlagSet("keepalived", pflag.ContinueOnError)
	o.AddFlags(ours)
	command := pflag.NewFlagSet("command", pflag.ContinueOnError)
	command.AddFlagSet(ours)
	if err := command.Parse([]string{"--keepalived-pools-file="}); err != nil {
		t.Fatal(err)
	}
	o.Complete(lookupIn(map[string]string{EnvPoolsFile: "/etc/pools.yaml", EnvServiceCIDR: "10.0.0.0/24"}, ""))
	if o.PoolsFile != "" || o.ServiceCIDR != "10.0.0.0/24" {
		t.Errorf("pools file %q, service CIDR %q; want the empty flag to win over %s", o.PoolsFile, o.ServiceCIDR, EnvPoolsFile)
	}
}

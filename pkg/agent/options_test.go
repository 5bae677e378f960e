package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func hostname() (string, error) { return "host-1", nil }

func validate(t *testing.T, args []string, vars map[string]string) (Config, error) {
	t.Helper()
	var o Options
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	o.Complete(fs, env(vars))
	return o.Validate(hostname)
}

func TestDefaults(t *testing.T) {
	c, err := validate(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "host-1" || c.Namespace != "kube-system" || c.ConfigMap != "vip-configmap" || c.Instances != 4 ||
		c.RouterIDBase != 50 || c.HealthCheckURL != defaultHealthCheckURL || c.Unicast || c.PeerSelector != nil {
		t.Errorf("defaults: %+v", c)
	}
}

func TestFlagsWinOverEnvAndEmptyTurnsHealthOff(t *testing.T) {
	c, err := validate(t, []string{"--node-name=n1", "--unicast", "--peers=b=10.0.0.2,a=10.0.0.1"},
		map[string]string{"NODE_NAME": "env", "KEEPALIVED_HEALTH_CHECK_URL": "", "KEEPALIVED_VRRP_INSTANCES": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "n1" || !c.Unicast || c.HealthCheckURL != "" || c.Instances != 2 || len(c.Peers) != 2 || c.Peers[0].Name != "a" {
		t.Errorf("config: %+v", c)
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	_, err := validate(t, []string{"--vrrp-instances=0", "--virtual-router-id-base=250", "--peers=x", "--health-check-url=ftp://x",
		"--config-dir=rel", "--listen-address=nope", "--peer-node-selector=a in (", "--advert-interval=z", "--keepalived-command= "}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--vrrp-instances", "--peers", "--health-check-url", "--config-dir", "--listen-address",
		"--peer-node-selector", "--advert-interval", "--keepalived-command"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n < 8 {
		t.Errorf("want every problem reported, got %d:\n%v", n, err)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Errorf("want errors.Join")
	}
}

func TestRouterIDsMustFit(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" for valid
	}{
		{[]string{"--virtual-router-id-base=253", "--vrrp-instances=4", "--local-vrrp-instances=0"}, "up to 256"},
		{[]string{"--virtual-router-id-base=236", "--vrrp-instances=4"}, ""}, // 236+4+16-1 = 255
		{[]string{"--virtual-router-id-base=237", "--vrrp-instances=4"}, "--local-vrrp-instances=16 would use virtual router IDs up to 256"},
	}
	for _, tt := range tests {
		_, err := validate(t, tt.args, nil)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%v: err = %v; want %q", tt.args, err, tt.want)
		}
	}
}

func TestFlagGivenEmptyWinsOverEnv(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		vars  map[string]string
		check func(Config) bool
	}{
		{name: "empty health check URL turns the check off", args: []string{"--health-check-url="},
			vars:  map[string]string{"KEEPALIVED_HEALTH_CHECK_URL": "http://127.0.0.1:1/healthz"},
			check: func(c Config) bool { return c.HealthCheckURL == "" }},
		{name: "empty node name falls back to the host name", args: []string{"--node-name="},
			vars:  map[string]string{"NODE_NAME": "env"},
			check: func(c Config) bool { return c.NodeName == "host-1" }},
		{name: "empty peers drop the variable's", args: []string{"--peers="},
			vars:  map[string]string{"KEEPALIVED_PEERS": "a=10.0.0.1"},
			check: func(c Config) bool { return len(c.Peers) == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := validate(t, tt.args, tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config: %+v", c)
			}
		})
	}
}

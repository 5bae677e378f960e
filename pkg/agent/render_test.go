package agent

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/keepalived"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenConfig is the agent configuration the golden files are rendered with.
func goldenConfig() Config {
	return Config{
		NodeName: "node-b", Interface: "eth0", Instances: 3, RouterIDBase: 50, AdvertInt: 1,
		ConfigDir:      "/run/keepalived-vip-agent",
		HealthCheckURL: defaultHealthCheckURL,
		Peers:          peers("node-a=10.0.0.11", "node-b=10.0.0.12", "node-c=10.0.0.13"),
	}
}

func peers(pairs ...string) []Peer {
	var out []Peer
	for _, p := range pairs {
		name, ip, _ := strings.Cut(p, "=")
		out = append(out, Peer{Name: name, Addr: netip.MustParseAddr(ip)})
	}
	return out
}

func configMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "vip-configmap"}, Data: data}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		cm     *corev1.ConfigMap
		config func(*Config)
		local  map[string][]string // Local VIP -> nodes with endpoints
		cm6    *corev1.ConfigMap
	}{
		{name: "missing_configmap"},
		{name: "empty", cm: configMap(nil)},
		{name: "one_vip", cm: configMap(map[string]string{"10.210.38.65": "default/echo"})},
		{name: "many_vips_across_instances", cm: configMap(map[string]string{
			"10.210.38.65": "default/echo", "10.210.38.66": "default/web:DR", "10.210.38.67": "shop/cart:PROXY",
			"10.210.38.68": "shop/pay:NAT", "10.210.38.69": "default/api", "10.210.38.70": "default/dns",
		})},
		{name: "unicast_peers", cm: configMap(map[string]string{"10.210.38.65": "default/echo", "10.210.38.66": "default/web"}),
			config: func(c *Config) { c.Unicast = true }},
		{name: "hand_written_empty_values", cm: configMap(map[string]string{"10.210.38.65": "default/echo", "192.168.7.7": "", "10.210.38.90": ""})},
		{name: "bad_keys_and_values_are_skipped", cm: configMap(map[string]string{
			"10.210.38.65": "default/echo", "fd00--1": "default/v6", "10.210.038.66": "default/leading-zero",
			"not-an-ip": "default/x", "10.210.38.67": "no-slash", "10.210.38.68": "default/web:IPVS", "127.0.0.1": "", "240.0.0.1": "",
		})},
		{name: "no_peers_no_health_check", cm: configMap(map[string]string{"10.210.38.65": "default/echo"}),
			config: func(c *Config) { c.Peers, c.HealthCheckURL = nil, "" }},
		{name: "node_not_among_peers", cm: configMap(map[string]string{"10.210.38.65": "default/echo"}),
			config: func(c *Config) { c.NodeName = "node-z"; c.Unicast = true }},
		{name: "dual_stack", cm: configMap(map[string]string{"10.210.38.65": "default/echo", "10.210.38.66": "default/web"}),
			cm6:   configMap(map[string]string{"2001-db8--5": "default/echo", "2001-db8--8": "default/v6only", "fd00--9": "ingress/nginx"}),
			local: map[string][]string{"fd00::9": {"node-b", "node-c"}},
			config: func(c *Config) {
				c.Unicast, c.LocalInstances = true, 4
				for i := range c.Peers {
					c.Peers[i].Addr6 = netip.MustParseAddr("2001:db8:1::" + strconv.Itoa(11+i))
				}
			}},
		{name: "many_vips_are_mostly_excluded_from_adverts", cm: configMap(manyVIPs(12))},
		{name: "local_traffic_policy_groups", cm: configMap(map[string]string{
			"10.210.38.65": "default/echo", "10.210.38.66": "ingress/nginx", "10.210.38.67": "ingress/contour",
			"10.210.38.68": "ingress/everywhere", "10.210.38.69": "ingress/elsewhere", "10.210.38.70": "ingress/nowhere",
			"10.210.38.71": "ingress/here",
		}), config: func(c *Config) { c.Unicast = true; c.LocalInstances = 4 }, local: map[string][]string{
			"10.210.38.66": {"node-a", "node-b"}, "10.210.38.67": {"node-a", "node-b"}, // one group, node-b a member
			"10.210.38.68": {"node-a", "node-b", "node-c"}, // every node: a shared instance
			"10.210.38.69": {"node-c"},                     // a group without node-b: not rendered here
			"10.210.38.70": nil,                            // nobody: not announced
			"10.210.38.71": {"node-b"},                     // node-b alone: its owner, adverts to every peer
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := goldenConfig()
			if tt.config != nil {
				tt.config(&cfg)
			}
			got := renderFor(cfg, tt.cm, tt.cm6, tt.local)
			path := filepath.Join("testdata", tt.name+".conf")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("keepalived.conf differs from %s (-want +got):\n%s", path, diff)
			}
			configTest(t, path)
		})
	}
}

// renderFor renders what the agent writes for the ConfigMaps (IPv4, IPv6), as sync
// does; local gives the eligible nodes of externalTrafficPolicy Local VIPs.
func renderFor(cfg Config, cm, cm6 *corev1.ConfigMap, local map[string][]string) []byte {
	a := New(cfg, nil, NewMetrics())
	vips, _ := entries(cm, vipconfig.IPv4)
	vips6, _ := entries(cm6, vipconfig.IPv6)
	vips = append(vips, vips6...)
	placed := a.placed(vips)
	for i, v := range placed {
		if nodes, ok := local[v.Addr.String()]; ok {
			placed[i].Local, placed[i].Eligible = true, nodes
		}
	}
	return keepalived.Render(a.specFor(a.makePlan(placed, a.cfg.Peers), a.cfg.Peers))
}

// configTest runs `keepalived --config-test` on the golden file when keepalived is
// installed (CI installs it and sets KCP_REQUIRE_DATAPLANE=1, which makes it required).
// keepalived checks that the interface exists: as root the test runs it in a private
// network namespace with a veth named eth0; otherwise on an interface this machine has.
func configTest(t *testing.T, path string) {
	t.Helper()
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		if os.Getenv("KCP_REQUIRE_DATAPLANE") == "1" {
			t.Fatalf("keepalived not installed (KCP_REQUIRE_DATAPLANE=1 requires it): cannot run --config-test on %s", path)
		}
		t.Logf("keepalived not installed: not running --config-test on %s", path)
		return
	}
	out, err := runConfigTest(t, bin, path)
	if err == nil {
		return
	}
	// An instance without VIPs is deliberate (see keepalived.Render); keepalived only warns.
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.Contains(line, "No VIP specified; at least one is sensible") {
			t.Fatalf("keepalived --config-test %s: %v\n%s", path, err, out)
		}
	}
}

func runConfigTest(t *testing.T, bin, path string) ([]byte, error) {
	if unshare, err := exec.LookPath("unshare"); err == nil && os.Geteuid() == 0 {
		script := `ip link add eth0 type veth peer name peer0 && ip link set eth0 up && exec "$0" --config-test --use-file "$1"`
		return exec.Command(unshare, "--net", "sh", "-c", script, bin, path).CombinedOutput()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(string(data), "eth0", firstInterface(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	return exec.Command(bin, "--config-test", "--use-file", conf).CombinedOutput()
}

func firstInterface(t *testing.T) string {
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback == 0 && i.Flags&net.FlagUp != 0 {
			return i.Name
		}
	}
	t.Skip("not root and no non-loopback interface up: cannot run keepalived --config-test")
	return ""
}

func manyVIPs(n int) map[string]string {
	data := map[string]string{}
	for i := range n {
		data[netip.AddrFrom4([4]byte{10, 210, 38, byte(64 + i)}).String()] = "default/svc" + strconv.Itoa(i)
	}
	return data
}

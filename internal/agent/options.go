package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"
)

// setting is one configuration value: its flag, its environment variable and its default.
type setting struct {
	flag, env, fallback, usage string
	value                      *string
}

// Options holds the raw settings as given on the command line or in the environment.
type Options struct {
	Kubeconfig, Namespace, ConfigMap, NodeName, Interface  string
	Instances, RouterIDBase, AdvertInt                     string
	Peers, PeerNodeSelector, Unicast                       string
	HealthCheckURL, HealthCheckInterval                    string
	ConfigDir, KeepalivedCommand, IPCommand, ListenAddress string
}

// DefaultHealthCheckURL is kube-proxy's health endpoint on the node.
const DefaultHealthCheckURL = "http://127.0.0.1:10256/healthz"

func (o *Options) settings() []setting {
	return []setting{
		{"kubeconfig", "KUBECONFIG", "", "Kubeconfig file; empty means the in-cluster ServiceAccount.", &o.Kubeconfig},
		{"keepalived-namespace", "KEEPALIVED_NAMESPACE", "kube-system", "Namespace of the VIP ConfigMap (the provider's setting of the same name).", &o.Namespace},
		{"keepalived-config-map", "KEEPALIVED_CONFIG_MAP", "vip-configmap", "Name of the VIP ConfigMap.", &o.ConfigMap},
		{"node-name", "NODE_NAME", "", "This node's name: its place in the priority rotation. Default: the host name.", &o.NodeName},
		{"interface", "KEEPALIVED_INTERFACE", "", "Interface that carries the VIPs and the VRRP adverts. Default: the interface of the IPv4 default route.", &o.Interface},
		{"vrrp-instances", "KEEPALIVED_VRRP_INSTANCES", "4", "Number of VRRP instances the VIPs are spread over (1-255).", &o.Instances},
		{"virtual-router-id-base", "KEEPALIVED_VIRTUAL_ROUTER_ID_BASE", "50", "Virtual router ID of the first instance; instance k uses base+k. Keep clear of other VRRP users on the segment.", &o.RouterIDBase},
		{"advert-interval", "KEEPALIVED_ADVERT_INTERVAL", "1", "VRRP advert interval in seconds; a dead master is replaced after about 3.5 intervals.", &o.AdvertInt},
		{"peers", "KEEPALIVED_PEERS", "", "Static peers as name=IPv4 pairs, comma separated, this node included: the priority rotation, and the unicast peers with --unicast.", &o.Peers},
		{"peer-node-selector", "KEEPALIVED_PEER_NODE_SELECTOR", "", "Label selector of the Nodes that run the agent: their names form the priority rotation and their InternalIPs the unicast peers. Needs list/watch on Nodes.", &o.PeerNodeSelector},
		{"unicast", "KEEPALIVED_UNICAST", "false", "Send VRRP adverts to the peers by unicast instead of multicast (for networks that drop multicast).", &o.Unicast},
		{"health-check-url", "KEEPALIVED_HEALTH_CHECK_URL", DefaultHealthCheckURL, "URL of the local service proxy's health check; while it fails the node's priority drops below every healthy node. Empty turns the check off.", &o.HealthCheckURL},
		{"health-check-interval", "KEEPALIVED_HEALTH_CHECK_INTERVAL", "2s", "How often the health check runs; three failures in a row make the node unhealthy.", &o.HealthCheckInterval},
		{"config-dir", "KEEPALIVED_CONFIG_DIR", "/run/keepalived-vip-agent", "Directory for keepalived.conf, pid files, the notify FIFO and the health file.", &o.ConfigDir},
		{"keepalived-command", "KEEPALIVED_COMMAND", "keepalived", "Command that starts keepalived, split on spaces (e.g. \"ip netns exec node1 keepalived\").", &o.KeepalivedCommand},
		{"ip-command", "KEEPALIVED_IP_COMMAND", "ip", "iproute2 command for the same network namespace as keepalived, split on spaces (e.g. \"ip -n node1\").", &o.IPCommand},
		{"listen-address", "KEEPALIVED_AGENT_LISTEN_ADDRESS", ":9742", "host:port serving /healthz and /metrics (plain HTTP).", &o.ListenAddress},
	}
}

// AddFlags registers the flags. Their defaults are empty so that an unset flag falls
// back to the environment variable, then to the built-in default.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	for _, s := range o.settings() {
		usage := fmt.Sprintf("%s Overrides $%s.", s.usage, s.env)
		if s.fallback != "" {
			usage += fmt.Sprintf(" Default %q.", s.fallback)
		}
		fs.StringVar(s.value, s.flag, "", usage)
	}
	fs.Lookup("unicast").NoOptDefVal = "true" // --unicast alone means true
}

// Complete fills every setting not given as a flag from the environment, else the
// default. A flag or variable given as "" stays empty (that turns the health check off).
func (o *Options) Complete(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) {
	for _, s := range o.settings() {
		if fs != nil && fs.Changed(s.flag) {
			continue
		}
		if v, ok := lookupEnv(s.env); ok && (v != "" || s.flag == "health-check-url") {
			*s.value = v
		} else {
			*s.value = s.fallback
		}
	}
}

// Config is the validated configuration.
type Config struct {
	Kubeconfig          string
	Namespace           string
	ConfigMap           string
	NodeName            string
	Interface           string // empty: take it from the default route
	Instances           int
	RouterIDBase        int
	AdvertInt           int
	Peers               []Peer // static; sorted by name
	PeerSelector        labels.Selector
	Unicast             bool
	HealthCheckURL      string
	HealthCheckInterval time.Duration
	ConfigDir           string
	KeepalivedCommand   []string
	IPCommand           []string
	ListenAddress       string
}

// Peer is a node taking part in VRRP.
type Peer struct {
	Name string
	Addr netip.Addr
}

// Validate checks every setting and reports every problem together, each naming its
// flag, its variable and the bad value.
func (o *Options) Validate(hostname func() (string, error)) (Config, error) {
	v := validator{}
	c := Config{
		Kubeconfig:        o.Kubeconfig,
		Namespace:         v.required("keepalived-namespace", "KEEPALIVED_NAMESPACE", o.Namespace),
		ConfigMap:         v.required("keepalived-config-map", "KEEPALIVED_CONFIG_MAP", o.ConfigMap),
		Interface:         o.Interface,
		Instances:         v.intIn("vrrp-instances", "KEEPALIVED_VRRP_INSTANCES", o.Instances, 1, 255),
		RouterIDBase:      v.intIn("virtual-router-id-base", "KEEPALIVED_VIRTUAL_ROUTER_ID_BASE", o.RouterIDBase, 1, 255),
		AdvertInt:         v.intIn("advert-interval", "KEEPALIVED_ADVERT_INTERVAL", o.AdvertInt, 1, 255),
		Peers:             v.peers(o.Peers),
		Unicast:           v.boolean("unicast", "KEEPALIVED_UNICAST", o.Unicast),
		HealthCheckURL:    v.url(o.HealthCheckURL),
		ConfigDir:         v.absDir(o.ConfigDir),
		KeepalivedCommand: v.command("keepalived-command", "KEEPALIVED_COMMAND", o.KeepalivedCommand),
		IPCommand:         v.command("ip-command", "KEEPALIVED_IP_COMMAND", o.IPCommand),
		ListenAddress:     v.hostPort(o.ListenAddress),
	}
	c.HealthCheckInterval = v.duration("health-check-interval", "KEEPALIVED_HEALTH_CHECK_INTERVAL", o.HealthCheckInterval)
	c.NodeName = v.nodeName(o.NodeName, hostname)
	c.PeerSelector = v.selector(o.PeerNodeSelector)
	if c.RouterIDBase+c.Instances-1 > 255 {
		v.add("--virtual-router-id-base=%d with --vrrp-instances=%d would use virtual router IDs up to %d; the highest is 255",
			c.RouterIDBase, c.Instances, c.RouterIDBase+c.Instances-1)
	}
	if len(c.Peers) > 0 && c.PeerSelector != nil {
		v.add("--peers and --peer-node-selector both give the peers; use one")
	}
	return c, errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

func (v *validator) bad(flag, env, value, why string) {
	v.add("--%s / $%s=%q: %s", flag, env, value, why)
}

func (v *validator) required(flag, env, value string) string {
	if value == "" {
		v.bad(flag, env, value, "must not be empty")
	}
	return value
}

func (v *validator) intIn(flag, env, value string, lo, hi int) int {
	n, err := strconv.Atoi(value)
	if err != nil || n < lo || n > hi {
		v.bad(flag, env, value, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
	}
	return n
}

func (v *validator) boolean(flag, env, value string) bool {
	b, err := strconv.ParseBool(value)
	if err != nil {
		v.bad(flag, env, value, "must be true or false")
	}
	return b
}

func (v *validator) duration(flag, env, value string) time.Duration {
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		v.bad(flag, env, value, "must be a positive duration such as 2s")
	}
	return d
}

func (v *validator) command(flag, env, value string) []string {
	argv := strings.Fields(value)
	if len(argv) == 0 {
		v.bad(flag, env, value, "must name a command")
	}
	return argv
}

func (v *validator) url(value string) string {
	if value == "" {
		return ""
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.bad("health-check-url", "KEEPALIVED_HEALTH_CHECK_URL", value, "must be an http:// or https:// URL, or empty to turn the check off")
	}
	return value
}

func (v *validator) absDir(value string) string {
	if !filepath.IsAbs(value) {
		v.bad("config-dir", "KEEPALIVED_CONFIG_DIR", value, "must be an absolute path")
	}
	return value
}

func (v *validator) hostPort(value string) string {
	if _, port, err := net.SplitHostPort(value); err != nil || port == "" {
		v.bad("listen-address", "KEEPALIVED_AGENT_LISTEN_ADDRESS", value, "must be host:port, e.g. :9742 or 127.0.0.1:9742")
	}
	return value
}

func (v *validator) nodeName(value string, hostname func() (string, error)) string {
	if value != "" {
		return value
	}
	h, err := hostname()
	if err != nil || h == "" {
		v.add("--node-name / $NODE_NAME is not set and the host name is unknown (%v)", err)
	}
	return h
}

func (v *validator) selector(value string) labels.Selector {
	if value == "" {
		return nil
	}
	s, err := labels.Parse(value)
	if err != nil {
		v.bad("peer-node-selector", "KEEPALIVED_PEER_NODE_SELECTOR", value, err.Error())
	}
	return s
}

func (v *validator) peers(value string) []Peer {
	var peers []Peer
	for _, item := range strings.Split(value, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, ip, _ := strings.Cut(item, "=")
		addr, err := netip.ParseAddr(ip)
		if name == "" || err != nil || !addr.Is4() {
			v.bad("peers", "KEEPALIVED_PEERS", item, "each peer must be name=IPv4, e.g. node1=10.0.0.11")
			continue
		}
		peers = append(peers, Peer{Name: name, Addr: addr})
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	return peers
}

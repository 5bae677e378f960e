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

	"github.com/munnerz/keepalived-cloud-provider/pkg/setting"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// Options holds the raw settings as given on the command line or in the environment.
type Options struct {
	Kubeconfig, Namespace, ConfigMap, ConfigMapIPv6        string
	NodeName, Interface                                    string
	Instances, LocalInstances, RouterIDBase, AdvertInt     string
	Peers, PeerNodeSelector, Unicast                       string
	HealthCheckURL, HealthCheckInterval                    string
	ConfigDir, KeepalivedCommand, IPCommand, ListenAddress string
}

// defaultHealthCheckURL is kube-proxy's health endpoint on the node.
const defaultHealthCheckURL = "http://127.0.0.1:10256/healthz"

func (o *Options) settings() []setting.Setting {
	return []setting.Setting{
		{Flag: "kubeconfig", Env: "KUBECONFIG", Usage: "Kubeconfig file; empty means the in-cluster ServiceAccount.", Value: &o.Kubeconfig},
		{Flag: "keepalived-namespace", Env: "KEEPALIVED_NAMESPACE", Default: "kube-system", Usage: "Namespace of the VIP ConfigMap (the provider's setting of the same name).", Value: &o.Namespace},
		{Flag: "keepalived-config-map", Env: "KEEPALIVED_CONFIG_MAP", Default: "vip-configmap", Usage: "Name of the VIP ConfigMap.", Value: &o.ConfigMap},
		{Flag: "keepalived-config-map-ipv6", Env: "KEEPALIVED_CONFIG_MAP_IPV6", Usage: "Name of the IPv6 VIP ConfigMap, beside the first (the provider's setting of the same name). Default: the first's name with -ipv6.", Value: &o.ConfigMapIPv6},
		{Flag: "node-name", Env: "NODE_NAME", Usage: "This node's name: its place in the priority rotation. Default: the host name.", Value: &o.NodeName},
		{Flag: "interface", Env: "KEEPALIVED_INTERFACE", Usage: "Interface that carries the VIPs and the VRRP adverts. Default: the interface of the IPv4 default route.", Value: &o.Interface},
		{Flag: "vrrp-instances", Env: "KEEPALIVED_VRRP_INSTANCES", Default: "4", Usage: "Number of VRRP instances the VIPs are spread over (1-255).", Value: &o.Instances},
		{Flag: "local-vrrp-instances", Env: "KEEPALIVED_LOCAL_VRRP_INSTANCES", Default: "16", Usage: "Most VRRP instances for Services with externalTrafficPolicy Local (one per distinct set of nodes with endpoints), on the virtual router IDs after the shared ones (0-254). Local VIPs past the cap are not announced, with an event and a metric saying so.", Value: &o.LocalInstances},
		{Flag: "virtual-router-id-base", Env: "KEEPALIVED_VIRTUAL_ROUTER_ID_BASE", Default: "50", Usage: "Virtual router ID of the first instance; instance k uses base+k. Keep clear of other VRRP users on the segment.", Value: &o.RouterIDBase},
		{Flag: "advert-interval", Env: "KEEPALIVED_ADVERT_INTERVAL", Default: "1", Usage: "VRRP advert interval in seconds; a dead master is replaced after about 3.5 intervals.", Value: &o.AdvertInt},
		{Flag: "peers", Env: "KEEPALIVED_PEERS", Usage: "Static peers as name=IPv4 pairs, comma separated, this node included: the priority rotation, and the unicast peers with --unicast.", Value: &o.Peers},
		{Flag: "peer-node-selector", Env: "KEEPALIVED_PEER_NODE_SELECTOR", Usage: "Label selector of the Nodes that run the agent: their names form the priority rotation and their InternalIPs the unicast peers. Needs list/watch on Nodes.", Value: &o.PeerNodeSelector},
		{Flag: "unicast", Env: "KEEPALIVED_UNICAST", Default: "false", Usage: "Send VRRP adverts to the peers by unicast instead of multicast (for networks that drop multicast).", Value: &o.Unicast},
		{Flag: "health-check-url", Env: "KEEPALIVED_HEALTH_CHECK_URL", Default: defaultHealthCheckURL, Usage: "URL of the local service proxy's health check; while it fails the node's priority drops below every healthy node. Empty turns the check off.", Value: &o.HealthCheckURL, EmptyAllowed: true},
		{Flag: "health-check-interval", Env: "KEEPALIVED_HEALTH_CHECK_INTERVAL", Default: "2s", Usage: "How often the health check runs; three failures in a row make the node unhealthy.", Value: &o.HealthCheckInterval},
		{Flag: "config-dir", Env: "KEEPALIVED_CONFIG_DIR", Default: "/run/keepalived-vip-agent", Usage: "Directory for keepalived.conf, pid files, the notify FIFO and the health file.", Value: &o.ConfigDir},
		{Flag: "keepalived-command", Env: "KEEPALIVED_COMMAND", Default: "keepalived", Usage: "Command that starts keepalived, split on spaces (e.g. \"ip netns exec node1 keepalived\").", Value: &o.KeepalivedCommand},
		{Flag: "ip-command", Env: "KEEPALIVED_IP_COMMAND", Default: "ip", Usage: "iproute2 command for the same network namespace as keepalived, split on spaces (e.g. \"ip -n node1\").", Value: &o.IPCommand},
		{Flag: "listen-address", Env: "KEEPALIVED_AGENT_LISTEN_ADDRESS", Default: ":9742", Usage: "host:port serving /healthz and /metrics (plain HTTP).", Value: &o.ListenAddress},
	}
}

// AddFlags registers the flags. Their defaults are empty so that an unset flag falls
// back to the environment variable, then to the built-in default.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	setting.AddFlags(fs, o.settings())
	fs.Lookup("unicast").NoOptDefVal = "true" // --unicast alone means true
}

// Complete fills every setting not given as a flag from the environment, else the
// default. A flag or variable given as "" stays empty (that turns the health check off).
func (o *Options) Complete(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) {
	setting.Complete(fs, o.settings(), lookupEnv)
}

// Config is the validated configuration.
type Config struct {
	Kubeconfig          string
	Namespace           string
	ConfigMap           string
	ConfigMapIPv6       string
	NodeName            string
	Interface           string // empty: take it from the default route
	Instances           int
	LocalInstances      int
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
	Name  string
	Addr  netip.Addr // IPv4, for unicast adverts
	Addr6 netip.Addr // IPv6, for the IPv6 instances' unicast adverts (from Nodes only)
}

// Validate checks every setting and reports every problem together, each naming its
// flag, its variable and the bad value.
func (o *Options) Validate(hostname func() (string, error)) (Config, error) {
	v := validator{all: o.settings()}
	c := Config{
		Kubeconfig:        o.Kubeconfig,
		Namespace:         v.required(&o.Namespace),
		ConfigMap:         v.required(&o.ConfigMap),
		Interface:         o.Interface,
		Instances:         v.intIn(&o.Instances, 1, 255),
		LocalInstances:    v.intIn(&o.LocalInstances, 0, 254),
		RouterIDBase:      v.intIn(&o.RouterIDBase, 1, 255),
		AdvertInt:         v.intIn(&o.AdvertInt, 1, 255),
		Peers:             v.peers(&o.Peers),
		Unicast:           v.boolean(&o.Unicast),
		HealthCheckURL:    v.url(&o.HealthCheckURL),
		ConfigDir:         v.absDir(&o.ConfigDir),
		KeepalivedCommand: v.command(&o.KeepalivedCommand),
		IPCommand:         v.command(&o.IPCommand),
		ListenAddress:     v.hostPort(&o.ListenAddress),
	}
	c.HealthCheckInterval = v.duration(&o.HealthCheckInterval)
	c.ConfigMapIPv6 = v.ipv6ConfigMap(c.ConfigMap, &o.ConfigMapIPv6)
	c.NodeName = v.nodeName(o.NodeName, hostname)
	c.PeerSelector = v.selector(&o.PeerNodeSelector)
	if last := c.RouterIDBase + c.Instances + c.LocalInstances - 1; last > 255 {
		v.add("--virtual-router-id-base=%d with --vrrp-instances=%d and --local-vrrp-instances=%d would use virtual router IDs up to %d; the highest is 255",
			c.RouterIDBase, c.Instances, c.LocalInstances, last)
	}
	if len(c.Peers) > 0 && c.PeerSelector != nil {
		v.add("--peers and --peer-node-selector both give the peers; use one")
	}
	return c, errors.Join(v.errs...)
}

// validator gathers every problem. Its checks take the field a setting fills, and
// name the setting by it.
type validator struct {
	all  []setting.Setting
	errs []error
}

func (v *validator) add(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

// bad reports value, read from field, as wrong for why.
func (v *validator) bad(field *string, value, why string) {
	s := setting.Find(v.all, field)
	v.add("--%s / $%s=%q: %s", s.Flag, s.Env, value, why)
}

// ipv6ConfigMap is the IPv6 ConfigMap's name: as given, else derived from the first's.
func (v *validator) ipv6ConfigMap(legacy string, field *string) string {
	if *field == "" {
		name, err := vipconfig.IPv6ConfigMapName(legacy)
		if err != nil && legacy != "" {
			v.bad(field, *field, err.Error()+"; set this name explicitly")
		}
		return name
	}
	if err := vipconfig.CheckIPv6ConfigMapName(legacy, *field); err != nil {
		v.bad(field, *field, err.Error())
	}
	return *field
}

func (v *validator) required(field *string) string {
	if *field == "" {
		v.bad(field, *field, "must not be empty")
	}
	return *field
}

func (v *validator) intIn(field *string, lo, hi int) int {
	n, err := strconv.Atoi(*field)
	if err != nil || n < lo || n > hi {
		v.bad(field, *field, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
	}
	return n
}

func (v *validator) boolean(field *string) bool {
	b, err := strconv.ParseBool(*field)
	if err != nil {
		v.bad(field, *field, "must be true or false")
	}
	return b
}

func (v *validator) duration(field *string) time.Duration {
	d, err := time.ParseDuration(*field)
	if err != nil || d <= 0 {
		v.bad(field, *field, "must be a positive duration such as 2s")
	}
	return d
}

func (v *validator) command(field *string) []string {
	argv := strings.Fields(*field)
	if len(argv) == 0 {
		v.bad(field, *field, "must name a command")
	}
	return argv
}

func (v *validator) url(field *string) string {
	if *field == "" {
		return ""
	}
	u, err := url.Parse(*field)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.bad(field, *field, "must be an http:// or https:// URL, or empty to turn the check off")
	}
	return *field
}

func (v *validator) absDir(field *string) string {
	if !filepath.IsAbs(*field) {
		v.bad(field, *field, "must be an absolute path")
	}
	return *field
}

func (v *validator) hostPort(field *string) string {
	if _, port, err := net.SplitHostPort(*field); err != nil || port == "" {
		v.bad(field, *field, "must be host:port, e.g. :9742 or 127.0.0.1:9742")
	}
	return *field
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

func (v *validator) selector(field *string) labels.Selector {
	if *field == "" {
		return nil
	}
	s, err := labels.Parse(*field)
	if err != nil {
		v.bad(field, *field, err.Error())
	}
	return s
}

func (v *validator) peers(field *string) []Peer {
	var peers []Peer
	for _, item := range strings.Split(*field, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, ip, _ := strings.Cut(item, "=")
		addr, err := netip.ParseAddr(ip)
		if name == "" || err != nil || !addr.Is4() {
			v.bad(field, item, "each peer must be name=IPv4, e.g. node1=10.0.0.11")
			continue
		}
		peers = append(peers, Peer{Name: name, Addr: addr})
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	return peers
}

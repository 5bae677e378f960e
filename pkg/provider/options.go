package provider

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/munnerz/keepalived-cloud-provider/pkg/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"

	"github.com/munnerz/keepalived-cloud-provider/pkg/setting"
)

// Environment variables, compatible with the 2017 provider. Each has a flag that wins over it.
const (
	EnvServiceCIDR   = "KEEPALIVED_SERVICE_CIDR"
	EnvNamespace     = "KEEPALIVED_NAMESPACE"
	EnvConfigMap     = "KEEPALIVED_CONFIG_MAP"
	EnvConfigMapIPv6 = "KEEPALIVED_CONFIG_MAP_IPV6"
	EnvForwardMethod = "KEEPALIVED_DEFAULT_FORWARD_METHOD"
	EnvPoolsFile     = "KEEPALIVED_POOLS_FILE"
	EnvAllowOutside  = "KEEPALIVED_ALLOW_REQUESTS_OUTSIDE_POOLS"
	EnvClusterIPs    = "KEEPALIVED_SERVICE_CLUSTER_IP_RANGE"
	EnvClass         = "KEEPALIVED_LOAD_BALANCER_CLASS"
	EnvClassOnly     = "KEEPALIVED_CLASS_ONLY"
)

// DefaultClass is the spec.loadBalancerClass of the Services that are ours in any mode.
const DefaultClass = "k8s.co/keepalived"

// Options holds the raw keepalived settings as given on the command line or in the environment.
type Options struct {
	ServiceCIDR, Namespace, ConfigMap, ConfigMapIPv6, ForwardMethod, PoolsFile, AllowOutside, ClusterIPs string
	Class, ClassOnly                                                                                     string

	flags *pflag.FlagSet // where AddFlags put the flags: Complete asks it which were given
}

func (o *Options) settings() []setting.Setting {
	return []setting.Setting{
		{Flag: "keepalived-service-cidr", Env: EnvServiceCIDR, Usage: "Addresses to hand out: comma-separated IPv4 and IPv6 CIDRs and first-last ranges, as one pool for every namespace. Give this or a pools file.", Value: &o.ServiceCIDR},
		{Flag: "keepalived-namespace", Env: EnvNamespace, Default: "kube-system", Usage: "Namespace of the kube-keepalived-vip ConfigMap.", Value: &o.Namespace},
		{Flag: "keepalived-config-map", Env: EnvConfigMap, Default: "vip-configmap", Usage: "Name of the kube-keepalived-vip ConfigMap.", Value: &o.ConfigMap},
		{Flag: "keepalived-config-map-ipv6", Env: EnvConfigMapIPv6, Usage: "Name of the ConfigMap of the IPv6 addresses, beside the first (only the node agent reads it). Default: the first's name with -ipv6.", Value: &o.ConfigMapIPv6},
		{Flag: "keepalived-default-forward-method", Env: EnvForwardMethod, Default: string(vipconfig.NAT), Usage: "Forward method for Services without the k8s.co/keepalived-forward-method annotation: NAT, DR or PROXY.", Value: &o.ForwardMethod},
		{Flag: "keepalived-pools-file", Env: EnvPoolsFile, Usage: "YAML file of named address pools (see the README); re-read when it changes. Give this or a service CIDR.", Value: &o.PoolsFile},
		{Flag: "keepalived-allow-requests-outside-pools", Env: EnvAllowOutside, Default: "false", Usage: "Let Services request addresses outside every pool (the 2017 behaviour): any namespace may then claim any address not otherwise refused.", Value: &o.AllowOutside},
		{Flag: "keepalived-service-cluster-ip-range", Env: EnvClusterIPs, Usage: "The cluster's Service CIDRs (kube-apiserver --service-cluster-ip-range), comma separated: never handed out, even on request.", Value: &o.ClusterIPs},
		{Flag: "keepalived-load-balancer-class", Env: EnvClass, Default: DefaultClass, Usage: "The spec.loadBalancerClass of the Services this provider serves besides those without a class. Services of any other class are never touched.", Value: &o.Class},
		{Flag: "keepalived-class-only", Env: EnvClassOnly, Default: "false", Usage: "Serve only Services of the load balancer class, and leave those without a class to another implementation (a cloud's controller manager, MetalLB).", Value: &o.ClassOnly},
	}
}

// AddFlags registers the flags. Their defaults are empty so that an unset flag falls back
// to the environment variable, then to the built-in default.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.flags = fs
	setting.AddFlags(fs, o.settings())
}

// Complete fills every setting whose flag was not given (even as "") from the
// environment, else the default.
func (o *Options) Complete(lookupEnv func(string) (string, bool)) {
	setting.Complete(o.flags, o.settings(), lookupEnv)
}

// Config is the validated configuration.
type Config struct {
	Pools     *poolconfig.Config // nil when the pools file did not load
	PoolsFile string             // empty when the pools come from the service CIDR
	// PoolsErr is why the pools file did not load. It does not stop the start: a bad
	// edit of the file must not put every replica in a crash loop.
	PoolsErr      error
	Namespace     string
	ConfigMap     string // the IPv4 entries, in the kube-keepalived-vip format
	ConfigMapIPv6 string // the IPv6 entries, beside it
	DefaultMethod vipconfig.Method
	AllowOutside  bool           // requests outside every pool are honoured
	ClusterIPs    []netip.Prefix // never handed out
	Class         string         // the loadBalancerClass that is ours
	ClassOnly     bool           // Services without a class are someone else's
}

// OutsideHint tells a user how the operator allows requests outside the pools.
const OutsideHint = EnvAllowOutside + "=true, flag --keepalived-allow-requests-outside-pools"

// Validate checks every setting and reports all problems together, each naming its
// variable, flag and bad value. Warnings are for inputs it could correct. A pools file
// that does not load is no error: it is left in Config.PoolsErr.
func (o *Options) Validate() (Config, []string, error) {
	all := o.settings()
	var errs []error
	bad := func(value *string, why string) {
		s := setting.Find(all, value)
		errs = append(errs, fmt.Errorf("%s (--%s) %q: %s", s.Env, s.Flag, *s.Value, why))
	}
	cfg := Config{Namespace: o.Namespace, ConfigMap: o.ConfigMap}
	warnings := o.validatePools(&cfg, setting.Find(all, &o.PoolsFile), bad)
	var err error
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		bad(&o.Namespace, "not a namespace name: "+strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(o.ConfigMap); len(msgs) > 0 {
		bad(&o.ConfigMap, "not a ConfigMap name: "+strings.Join(msgs, "; "))
	} else if cfg.ConfigMapIPv6, err = o.ipv6ConfigMap(); err != nil {
		bad(&o.ConfigMapIPv6, err.Error())
	}
	if cfg.DefaultMethod, err = vipconfig.ParseMethod(o.ForwardMethod); err != nil {
		bad(&o.ForwardMethod, "must be NAT, DR or PROXY")
	}
	if cfg.AllowOutside, err = strconv.ParseBool(o.AllowOutside); err != nil {
		bad(&o.AllowOutside, "must be true or false")
	}
	if cfg.ClusterIPs, err = parsePrefixes(o.ClusterIPs); err != nil {
		bad(&o.ClusterIPs, err.Error())
	}
	cfg.Class = o.Class
	if msgs := content.IsLabelKey(o.Class); len(msgs) > 0 {
		bad(&o.Class, "not a load balancer class, which is label-style such as example.com/keepalived: "+strings.Join(msgs, "; "))
	}
	if cfg.ClassOnly, err = strconv.ParseBool(o.ClassOnly); err != nil {
		bad(&o.ClassOnly, "must be true or false")
	}
	if len(errs) > 0 {
		return Config{}, nil, fmt.Errorf("invalid keepalived configuration:\n%w", errors.Join(errs...))
	}
	return cfg, warnings, nil
}

// validatePools fills the pools of cfg from the service CIDR or the pools file (file
// is its setting). Exactly one must be given; a bad CIDR is an error, but a pools file
// that does not load only sets cfg.PoolsErr, so that a bad edit cannot crash-loop
// every replica.
func (o *Options) validatePools(cfg *Config, file setting.Setting, bad func(*string, string)) []string {
	var warnings []string
	var err error
	cidr, path := strings.TrimSpace(o.ServiceCIDR), strings.TrimSpace(o.PoolsFile)
	switch {
	case cidr != "" && path != "":
		bad(&o.ServiceCIDR, fmt.Sprintf("give either this or %s (--%s, %q), not both", file.Env, file.Flag, path))
	case path != "":
		cfg.PoolsFile = path
		if cfg.Pools, warnings, err = poolconfig.LoadDualStack(path); err != nil {
			cfg.Pools, cfg.PoolsErr = nil, err
		}
	case cidr == "":
		bad(&o.ServiceCIDR, fmt.Sprintf("required unless %s is set: the addresses to hand out, for example 10.210.38.64/26 or 10.210.38.65-10.210.38.90 (and fd00:38::/120 beside them for IPv6)", file.Env))
	default:
		if cfg.Pools, warnings, err = poolconfig.FromCIDRDualStack(cidr); err != nil {
			bad(&o.ServiceCIDR, err.Error())
		}
	}
	return warnings
}

// ipv6ConfigMap is the IPv6 ConfigMap's name: as given, else derived from the first's.
func (o *Options) ipv6ConfigMap() (string, error) {
	if o.ConfigMapIPv6 == "" {
		return vipconfig.IPv6ConfigMapName(o.ConfigMap)
	}
	return o.ConfigMapIPv6, vipconfig.CheckIPv6ConfigMapName(o.ConfigMap, o.ConfigMapIPv6)
}

// configMapOf names the ConfigMap of family fam's entries.
func (c Config) configMapOf(fam vipconfig.Family) string {
	if fam != vipconfig.IPv6 {
		return c.ConfigMap
	}
	if c.ConfigMapIPv6 == "" { // a Config built in code, not by Validate
		name, _ := vipconfig.IPv6ConfigMapName(c.ConfigMap)
		return name
	}
	return c.ConfigMapIPv6
}

// parsePrefixes reads comma-separated CIDRs; empty means none.
func parsePrefixes(spec string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(spec, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.96.0.0/12", item)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

package provider

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/munnerz/keepalived-cloud-provider/internal/poolconfig"
	"github.com/munnerz/keepalived-cloud-provider/internal/vipconfig"
)

// Environment variables, compatible with the 2017 provider. Each has a flag that wins over it.
const (
	EnvServiceCIDR   = "KEEPALIVED_SERVICE_CIDR"
	EnvNamespace     = "KEEPALIVED_NAMESPACE"
	EnvConfigMap     = "KEEPALIVED_CONFIG_MAP"
	EnvForwardMethod = "KEEPALIVED_DEFAULT_FORWARD_METHOD"
	EnvPoolsFile     = "KEEPALIVED_POOLS_FILE"
	EnvAllowOutside  = "KEEPALIVED_ALLOW_REQUESTS_OUTSIDE_POOLS"
	EnvClusterIPs    = "KEEPALIVED_SERVICE_CLUSTER_IP_RANGE"
)

// setting is one configuration value: its flag, its environment variable and its default.
type setting struct {
	flag, env, fallback, usage string
	value                      *string
}

// Options holds the raw keepalived settings as given on the command line or in the environment.
type Options struct {
	ServiceCIDR, Namespace, ConfigMap, ForwardMethod, PoolsFile, AllowOutside, ClusterIPs string
}

func (o *Options) settings() []setting {
	return []setting{
		{"keepalived-service-cidr", EnvServiceCIDR, "", "Addresses to hand out: comma-separated IPv4 CIDRs and first-last ranges, as one pool for every namespace. Give this or a pools file.", &o.ServiceCIDR},
		{"keepalived-namespace", EnvNamespace, "kube-system", "Namespace of the kube-keepalived-vip ConfigMap.", &o.Namespace},
		{"keepalived-config-map", EnvConfigMap, "vip-configmap", "Name of the kube-keepalived-vip ConfigMap.", &o.ConfigMap},
		{"keepalived-default-forward-method", EnvForwardMethod, string(vipconfig.NAT), "Forward method for Services without the k8s.co/keepalived-forward-method annotation: NAT, DR or PROXY.", &o.ForwardMethod},
		{"keepalived-pools-file", EnvPoolsFile, "", "YAML file of named address pools (see the README); re-read when it changes. Give this or a service CIDR.", &o.PoolsFile},
		{"keepalived-allow-requests-outside-pools", EnvAllowOutside, "false", "Let Services request addresses outside every pool (the 2017 behaviour): any namespace may then claim any address not otherwise refused.", &o.AllowOutside},
		{"keepalived-service-cluster-ip-range", EnvClusterIPs, "", "The cluster's Service CIDRs (kube-apiserver --service-cluster-ip-range), comma separated: never handed out, even on request.", &o.ClusterIPs},
	}
}

// AddFlags registers the flags. Their defaults are empty so that an unset flag falls back
// to the environment variable, then to the built-in default.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	for _, s := range o.settings() {
		usage := fmt.Sprintf("%s Overrides $%s.", s.usage, s.env)
		if s.fallback != "" {
			usage += fmt.Sprintf(" Default %q.", s.fallback)
		}
		fs.StringVar(s.value, s.flag, "", usage)
	}
}

// Complete fills every setting not given as a flag from the environment or the default.
func (o *Options) Complete(lookupEnv func(string) (string, bool)) {
	for _, s := range o.settings() {
		if *s.value != "" {
			continue
		}
		if v, ok := lookupEnv(s.env); ok && v != "" {
			*s.value = v
		} else {
			*s.value = s.fallback
		}
	}
}

// Config is the validated configuration.
type Config struct {
	Pools         *poolconfig.Config
	PoolsFile     string // empty when the pools come from the service CIDR
	Namespace     string
	ConfigMap     string
	DefaultMethod vipconfig.Method
	AllowOutside  bool           // requests outside every pool are honoured
	ClusterIPs    []netip.Prefix // never handed out
}

// OutsideHint tells a user how the operator allows requests outside the pools.
const OutsideHint = EnvAllowOutside + "=true, flag --keepalived-allow-requests-outside-pools"

// Validate checks every setting and reports all problems together, each naming its
// variable, flag and bad value. Warnings are for inputs it could correct.
func (o *Options) Validate() (Config, []string, error) {
	var errs []error
	bad := func(s setting, why string) {
		errs = append(errs, fmt.Errorf("%s (--%s) %q: %s", s.env, s.flag, *s.value, why))
	}
	all := o.settings()
	cfg := Config{Namespace: o.Namespace, ConfigMap: o.ConfigMap}

	var warnings []string
	var err error
	cidr, file := strings.TrimSpace(o.ServiceCIDR), strings.TrimSpace(o.PoolsFile)
	switch {
	case cidr != "" && file != "":
		bad(all[0], fmt.Sprintf("give either this or %s (--%s, %q), not both", all[4].env, all[4].flag, file))
	case file != "":
		cfg.PoolsFile = file
		if cfg.Pools, warnings, err = poolconfig.Load(file); err != nil {
			bad(all[4], err.Error())
		}
	case cidr == "":
		bad(all[0], fmt.Sprintf("required unless %s is set: the addresses to hand out, for example 10.210.38.64/26 or 10.210.38.65-10.210.38.90", all[4].env))
	default:
		if cfg.Pools, warnings, err = poolconfig.FromCIDR(cidr); err != nil {
			bad(all[0], err.Error())
		}
	}
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		bad(all[1], "not a namespace name: "+strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(o.ConfigMap); len(msgs) > 0 {
		bad(all[2], "not a ConfigMap name: "+strings.Join(msgs, "; "))
	}
	if cfg.DefaultMethod, err = vipconfig.ParseMethod(o.ForwardMethod); err != nil {
		bad(all[3], "must be NAT, DR or PROXY")
	}
	if cfg.AllowOutside, err = strconv.ParseBool(o.AllowOutside); err != nil {
		bad(all[5], "must be true or false")
	}
	if cfg.ClusterIPs, err = parsePrefixes(o.ClusterIPs); err != nil {
		bad(all[6], err.Error())
	}
	if len(errs) > 0 {
		return Config{}, nil, fmt.Errorf("invalid keepalived configuration:\n%w", errors.Join(errs...))
	}
	return cfg, warnings, nil
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

package provider

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
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
	EnvForwardMethod = "KEEPALIVED_DEFAULT_FORWARD_METHOD"
	EnvPoolsFile     = "KEEPALIVED_POOLS_FILE"
	EnvAllowOutside  = "KEEPALIVED_ALLOW_REQUESTS_OUTSIDE_POOLS"
	EnvClusterIPs    = "KEEPALIVED_SERVICE_CLUSTER_IP_RANGE"
)

// Options holds the raw keepalived settings as given on the command line or in the environment.
type Options struct {
	ServiceCIDR, Namespace, ConfigMap, ForwardMethod, PoolsFile, AllowOutside, ClusterIPs string
}

func (o *Options) settings() []setting.Setting {
	return []setting.Setting{
		{Flag: "keepalived-service-cidr", Env: EnvServiceCIDR, Usage: "Addresses to hand out: comma-separated IPv4 CIDRs and first-last ranges, as one pool for every namespace. Give this or a pools file.", Value: &o.ServiceCIDR},
		{Flag: "keepalived-namespace", Env: EnvNamespace, Default: "kube-system", Usage: "Namespace of the kube-keepalived-vip ConfigMap.", Value: &o.Namespace},
		{Flag: "keepalived-config-map", Env: EnvConfigMap, Default: "vip-configmap", Usage: "Name of the kube-keepalived-vip ConfigMap.", Value: &o.ConfigMap},
		{Flag: "keepalived-default-forward-method", Env: EnvForwardMethod, Default: string(vipconfig.NAT), Usage: "Forward method for Services without the k8s.co/keepalived-forward-method annotation: NAT, DR or PROXY.", Value: &o.ForwardMethod},
		{Flag: "keepalived-pools-file", Env: EnvPoolsFile, Usage: "YAML file of named address pools (see the README); re-read when it changes. Give this or a service CIDR.", Value: &o.PoolsFile},
		{Flag: "keepalived-allow-requests-outside-pools", Env: EnvAllowOutside, Default: "false", Usage: "Let Services request addresses outside every pool (the 2017 behaviour): any namespace may then claim any address not otherwise refused.", Value: &o.AllowOutside},
		{Flag: "keepalived-service-cluster-ip-range", Env: EnvClusterIPs, Usage: "The cluster's Service CIDRs (kube-apiserver --service-cluster-ip-range), comma separated: never handed out, even on request.", Value: &o.ClusterIPs},
	}
}

// AddFlags registers the flags. Their defaults are empty so that an unset flag falls back
// to the environment variable, then to the built-in default.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	setting.AddFlags(fs, o.settings())
}

// Complete fills every setting not given as a flag from the environment or the default.
func (o *Options) Complete(lookupEnv func(string) (string, bool)) {
	given := func(s setting.Setting) bool { return *s.Value != "" }
	setting.Complete(o.settings(), given, lookupEnv)
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
	bad := func(s setting.Setting, why string) {
		errs = append(errs, fmt.Errorf("%s (--%s) %q: %s", s.Env, s.Flag, *s.Value, why))
	}
	all := o.settings()
	cfg := Config{Namespace: o.Namespace, ConfigMap: o.ConfigMap}

	var warnings []string
	var err error
	cidr, file := strings.TrimSpace(o.ServiceCIDR), strings.TrimSpace(o.PoolsFile)
	switch {
	case cidr != "" && file != "":
		bad(all[0], fmt.Sprintf("give either this or %s (--%s, %q), not both", all[4].Env, all[4].Flag, file))
	case file != "":
		cfg.PoolsFile = file
		if cfg.Pools, warnings, err = poolconfig.Load(file); err != nil {
			bad(all[4], err.Error())
		}
	case cidr == "":
		bad(all[0], fmt.Sprintf("required unless %s is set: the addresses to hand out, for example 10.210.38.64/26 or 10.210.38.65-10.210.38.90", all[4].Env))
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

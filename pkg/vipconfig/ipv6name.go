package vipconfig

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// IPv6ConfigMapSuffix names the IPv6 ConfigMap after the legacy one by default.
const IPv6ConfigMapSuffix = "-ipv6"

// IPv6ConfigMapName returns the default name of the ConfigMap that holds the IPv6
// entries beside the legacy ConfigMap legacy: "<legacy>-ipv6".
func IPv6ConfigMapName(legacy string) (string, error) {
	name := legacy + IPv6ConfigMapSuffix
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return "", fmt.Errorf("the IPv6 ConfigMap's default name %q (ConfigMap %q + %q) is not a ConfigMap name: %s; shorten the ConfigMap's name or name the IPv6 ConfigMap yourself",
			name, legacy, IPv6ConfigMapSuffix, strings.Join(msgs, "; "))
	}
	return name, nil
}

// CheckIPv6ConfigMapName reports whether name may hold the IPv6 entries beside
// the legacy ConfigMap legacy: a ConfigMap name (a DNS subdomain of at most 253
// characters), and another ConfigMap, as each one's ownership annotation lists
// the keys of one family only.
func CheckIPv6ConfigMapName(legacy, name string) error {
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return fmt.Errorf("IPv6 ConfigMap name %q is not a ConfigMap name: %s", name, strings.Join(msgs, "; "))
	}
	if name == legacy {
		return fmt.Errorf("IPv6 ConfigMap name %q is the legacy ConfigMap's: the IPv6 entries need a ConfigMap of their own (by default %q)", name, legacy+IPv6ConfigMapSuffix)
	}
	return nil
}

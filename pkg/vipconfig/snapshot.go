package vipconfig

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

const (
	// OwnedAnnotation lists, comma separated, the keys this provider wrote. Keys not listed
	// belong to people or other tools and are never changed. The consumer ignores annotations.
	OwnedAnnotation = "k8s.co/keepalived-cloud-provider-owned"
	// SeedAnnotation is the state the 2017 provider kept; its addresses are adopted as ours.
	SeedAnnotation = "k8s.co/cloud-provider-config"
	// UsageAnnotation tells a person without Prometheus how full each pool is.
	UsageAnnotation = "k8s.co/keepalived-pools-usage"
)

// Snapshot is what one version of the ConfigMap holds, as the provider reads it.
type Snapshot struct {
	Data     map[string]string // every key, verbatim (values may be empty)
	Listed   map[string]bool   // keys the ownership annotation or the 2017 seed lists as ours
	Warnings []string          // annotations that could not be read
}

// View is what the provider wants published: one entry per held address, the
// usage summary, and the generation of the decisions it carries.
type View struct {
	Gen     uint64
	Entries map[netip.Addr]Entry
	Usage   string
}

// Read takes a Snapshot of cm (nil: missing).
func Read(cm *corev1.ConfigMap) Snapshot {
	if cm == nil {
		return Snapshot{Data: map[string]string{}, Listed: map[string]bool{}}
	}
	listed, warnings := ownedKeys(cm.Annotations)
	data := cm.Data
	if data == nil {
		data = map[string]string{}
	}
	return Snapshot{Data: data, Listed: listed, Warnings: warnings}
}

// ParseEntry reads one key and value as an entry of ours.
func ParseEntry(key, value string) (netip.Addr, Entry, error) {
	addr, ok := CanonicalKey(key)
	if !ok {
		return netip.Addr{}, Entry{}, fmt.Errorf("key %q is not an IPv4 address", key)
	}
	entry, err := ParseValue(value)
	return addr, entry, err
}

// ownedKeys merges our annotation with the addresses the 2017 seed recorded.
func ownedKeys(annotations map[string]string) (map[string]bool, []string) {
	owned := map[string]bool{}
	for _, key := range strings.Split(annotations[OwnedAnnotation], ",") {
		if key = strings.TrimSpace(key); key != "" {
			owned[key] = true
		}
	}
	seed, ok := annotations[SeedAnnotation]
	if !ok {
		return owned, nil
	}
	var state struct {
		Services []struct {
			IP string `json:"ip"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(seed), &state); err != nil {
		return owned, []string{fmt.Sprintf("annotation %s is not the 2017 provider's JSON (%v); its entries are treated as foreign", SeedAnnotation, err)}
	}
	for _, s := range state.Services {
		owned[s.IP] = true
	}
	return owned, nil
}

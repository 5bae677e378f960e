package vipconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
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

// ErrNotOwned is returned when a change touches a key that another writer owns.
var ErrNotOwned = errors.New("key not owned by keepalived-cloud-provider")

// Table is the parsed ConfigMap: the entries we own and the keys others wrote.
type Table struct {
	Owned   map[netip.Addr]Entry
	Foreign map[string]string // key → value, verbatim (values may be empty)
	Usage   string            // the UsageAnnotation
}

// Change is what a caller wants written: entries to set and owned keys to delete.
type Change struct {
	Set    map[netip.Addr]Entry
	Delete []netip.Addr
	Usage  string // new UsageAnnotation; empty leaves it as it is
}

// Parse reads a ConfigMap (nil means missing). Warnings describe keys listed as ours that
// we leave alone because their value was edited into something we cannot read.
func Parse(cm *corev1.ConfigMap) (Table, []string) {
	t := Table{Owned: map[netip.Addr]Entry{}, Foreign: map[string]string{}}
	if cm == nil {
		return t, nil
	}
	t.Usage = cm.Annotations[UsageAnnotation]
	owned, warnings := ownedKeys(cm.Annotations)
	for key, value := range cm.Data {
		t.Foreign[key] = value
		if !owned[key] {
			continue
		}
		addr, entry, err := parseOwned(key, value)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("leaving entry %q: %q alone: %v", key, value, err))
			continue
		}
		delete(t.Foreign, key)
		t.Owned[addr] = entry
	}
	return t, warnings
}

func parseOwned(key, value string) (netip.Addr, Entry, error) {
	addr, err := netip.ParseAddr(key)
	if err != nil || !addr.Is4() || addr.String() != key {
		return netip.Addr{}, Entry{}, fmt.Errorf("key is not an IPv4 address")
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

// apply writes change into cm (which it modifies) and refreshes t. Keys owned by others
// are refused; only our keys and our annotation are touched, never the whole map.
func (t *Table) apply(cm *corev1.ConfigMap, change Change) error {
	for addr := range change.Set {
		if value, taken := t.Foreign[addr.String()]; taken {
			return fmt.Errorf("address %s: ConfigMap %s/%s already has the entry %q: %q written by someone else: %w",
				addr, cm.Namespace, cm.Name, addr.String(), value, ErrNotOwned)
		}
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	for _, addr := range change.Delete {
		if _, ours := t.Owned[addr]; ours {
			delete(cm.Data, addr.String())
			delete(t.Owned, addr)
		}
	}
	for addr, entry := range change.Set {
		cm.Data[addr.String()] = entry.Value()
		t.Owned[addr] = entry
	}
	setOwnedAnnotation(cm, t.Owned)
	if change.Usage != "" {
		cm.Annotations[UsageAnnotation] = change.Usage
		t.Usage = change.Usage
	}
	return nil
}

// holds reports whether the table already reflects change, so writing it would change nothing.
func (t Table) holds(change Change) bool {
	if change.Usage != "" && change.Usage != t.Usage {
		return false
	}
	for addr, entry := range change.Set {
		if t.Owned[addr] != entry {
			return false
		}
	}
	for _, addr := range change.Delete {
		if _, ours := t.Owned[addr]; ours {
			return false
		}
	}
	return true
}

func setOwnedAnnotation(cm *corev1.ConfigMap, owned map[netip.Addr]Entry) {
	addrs := make([]netip.Addr, 0, len(owned))
	for addr := range owned {
		addrs = append(addrs, addr)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	keys := make([]string, len(addrs))
	for i, addr := range addrs {
		keys[i] = addr.String()
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[OwnedAnnotation] = strings.Join(keys, ",")
	// Adopted: our annotation now records the seed's addresses.
	delete(cm.Annotations, SeedAnnotation)
}

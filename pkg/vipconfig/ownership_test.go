package vipconfig

import (
	"net/netip"
	"testing"
)

func TestCanonicalKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"10.0.0.1", true},
		{"255.255.255.255", true},
		{"0.0.0.0", true},
		{"010.0.0.1", false},
		{"10.0.0.1 ", false},
		{"10.0.0", false},
		{"10.0.0.256", false},
		{"::ffff:10.0.0.1", false},
		{"fe80::1", false},
		{"", false},
		{"web", false},
	}
	for _, tt := range tests {
		addr, ok := CanonicalKey(tt.key)
		if ok != tt.want || (ok && addr.String() != tt.key) || (!ok && addr.IsValid()) {
			t.Errorf("CanonicalKey(%q) = %v, %v; want ok = %v", tt.key, addr, ok, tt.want)
		}
	}
}

func TestSnapshotOurs(t *testing.T) {
	snap := Read(configMap(
		map[string]string{"10.0.0.1": "default/web", "10.0.0.2": "ops/manual", "10.0.0.3": "", "10.0.0.4": "default/db:DR", "10.0.0.5": "default/old"},
		map[string]string{OwnedAnnotation: "10.0.0.1,10.0.0.9", SeedAnnotation: `{"services":[{"ip":"10.0.0.5"}]}`}))
	tests := []struct {
		name   string
		key    string
		want   Entry
		wanted bool
		ours   bool
	}{
		{name: "listed", key: "10.0.0.1", ours: true},
		{name: "listed, value edited", key: "10.0.0.1", want: nat("default/other"), wanted: true, ours: true},
		{name: "listed, key gone", key: "10.0.0.9", ours: true},
		{name: "listed by the 2017 seed", key: "10.0.0.5", ours: true},
		{name: "unlisted, value is our entry", key: "10.0.0.4", want: Entry{Service: "default/db", Method: DR}, wanted: true, ours: true},
		{name: "unlisted, value differs", key: "10.0.0.4", want: nat("default/db"), wanted: true},
		{name: "unlisted, no entry held", key: "10.0.0.2"},
		{name: "empty value is never ours", key: "10.0.0.3", want: Entry{}, wanted: true},
		{name: "missing key is not ours", key: "10.0.0.7", want: nat("default/web"), wanted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := snap.Ours(tt.key, tt.want, tt.wanted); got != tt.ours {
				t.Errorf("Ours(%q, %+v, %v) = %v, want %v", tt.key, tt.want, tt.wanted, got, tt.ours)
			}
		})
	}
}

func FuzzCanonicalKey(f *testing.F) {
	for _, seed := range []string{"10.0.0.1", "010.0.0.1", "::1", "1.2.3.4%eth0"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		addr, ok := CanonicalKey(key)
		parsed, err := netip.ParseAddr(key)
		want := err == nil && parsed.Is4() && parsed.String() == key
		if ok != want || (ok && addr != parsed) {
			t.Fatalf("CanonicalKey(%q) = %v, %v; want %v", key, addr, ok, want)
		}
	})
}

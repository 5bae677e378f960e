package vipconfig

import (
	"strings"
	"testing"
)

func TestIPv6ConfigMapName(t *testing.T) {
	tests := []struct {
		name, legacy, want, wantErr string
	}{
		{name: "default", legacy: "vip-configmap", want: "vip-configmap-ipv6"},
		{name: "dotted", legacy: "vip.example", want: "vip.example-ipv6"},
		{name: "longest", legacy: strings.Repeat("a", 248), want: strings.Repeat("a", 248) + "-ipv6"},
		{name: "one too long", legacy: strings.Repeat("a", 249), wantErr: `(ConfigMap "` + strings.Repeat("a", 249) + `" + "-ipv6") is not a ConfigMap name: must be no more than 253 characters; shorten`},
		{name: "upper case", legacy: "VIP", wantErr: `default name "VIP-ipv6"`},
		{name: "empty", legacy: "", wantErr: `default name "-ipv6"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := IPv6ConfigMapName(tt.legacy)
			if !errorContains(err, tt.wantErr) || got != tt.want {
				t.Errorf("IPv6ConfigMapName(%q) = %q, %v; want %q, error containing %q", tt.legacy, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCheckIPv6ConfigMapName(t *testing.T) {
	tests := []struct {
		name, ipv6, wantErr string
	}{
		{name: "default", ipv6: "vip-configmap-ipv6"},
		{name: "any other name", ipv6: "vips6"},
		{name: "the legacy ConfigMap", ipv6: "vip-configmap", wantErr: `IPv6 ConfigMap name "vip-configmap" is the legacy ConfigMap's: the IPv6 entries need a ConfigMap of their own (by default "vip-configmap-ipv6")`},
		{name: "not a name", ipv6: "vips_6", wantErr: `IPv6 ConfigMap name "vips_6" is not a ConfigMap name: a lowercase RFC 1123 subdomain`},
		{name: "too long", ipv6: strings.Repeat("a", 254), wantErr: "must be no more than 253 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckIPv6ConfigMapName("vip-configmap", tt.ipv6); !errorContains(err, tt.wantErr) {
				t.Errorf("CheckIPv6ConfigMapName(vip-configmap, %q) = %v, want error containing %q", tt.ipv6, err, tt.wantErr)
			}
		})
	}
}

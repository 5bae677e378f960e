package ipam

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		name, item string
		want       string // first-last
		warning    string
		errIs      error
		err        string
	}{
		{name: "CIDR", item: " 10.0.0.0/29 ", want: "10.0.0.1-10.0.0.6"},
		{name: "range", item: "10.0.0.1 - 10.0.0.9", want: "10.0.0.1-10.0.0.9"},
		{name: "address", item: "10.0.0.1", want: "10.0.0.1-10.0.0.1"},
		{name: "host bits", item: "10.0.0.5/30", want: "10.0.0.5-10.0.0.6",
			warning: "10.0.0.5/30 has host bits set; using its network 10.0.0.4/30"},
		{name: "IPv6", item: "fd00::/64", errIs: ErrIPv6, err: ErrIPv6.Error()},
		{name: "empty", item: " ", err: "empty item"},
		{name: "list", item: "10.0.0.1, 10.0.0.2", err: `want an IPv4 CIDR (10.0.0.0/24), range (10.0.0.10-10.0.0.20) or address: unexpected character (at ",`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, warning, err := ParseRange(tt.item)
			if tt.err != "" {
				checkErr(t, err, tt.errIs, tt.err)
				return
			}
			checkErr(t, err, nil)
			if diff := cmp.Diff(tt.want, texts([]Range{r})[0]); diff != "" {
				t.Errorf("range (-want +got):\n%s", diff)
			}
			if warning != tt.warning {
				t.Errorf("warning = %q, want %q", warning, tt.warning)
			}
		})
	}
}

func TestPrefixRange(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"10.0.0.0/24", "10.0.0.0-10.0.0.255"},
		{"10.0.0.7/30", "10.0.0.4-10.0.0.7"},
		{"10.0.0.7/32", "10.0.0.7-10.0.0.7"},
		{"0.0.0.0/0", "0.0.0.0-255.255.255.255"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got := PrefixRange(netip.MustParsePrefix(tt.prefix))
			if diff := cmp.Diff(tt.want, texts([]Range{got})[0]); diff != "" {
				t.Errorf("PrefixRange (-want +got):\n%s", diff)
			}
		})
	}
}

package ipam

import (
	"net/netip"
	"testing"
)

func TestRangeString(t *testing.T) {
	tests := []struct {
		name string
		r    Range
		want string
	}{
		{"hosts of a /29", rng("10.0.0.1", "10.0.0.6"), "10.0.0.0/29"},
		{"hosts of a /30", rng("10.0.0.1", "10.0.0.2"), "10.0.0.0/30"},
		{"whole /31", rng("10.0.0.0", "10.0.0.1"), "10.0.0.0/31"},
		{"single address", rng("10.0.0.5", "10.0.0.5"), "10.0.0.5/32"},
		{"hosts of /0", rng("0.0.0.1", "255.255.255.254"), "0.0.0.0/0"},
		{"top /31", rng("255.255.255.254", "255.255.255.255"), "255.255.255.254/31"},
		{"whole /29 is not its CIDR", rng("10.0.0.0", "10.0.0.7"), "10.0.0.0-10.0.0.7"},
		{"misaligned", rng("10.0.0.2", "10.0.0.7"), "10.0.0.2-10.0.0.7"},
		{"misaligned pair", rng("10.0.0.1", "10.0.0.2"), "10.0.0.0/30"},
		{"odd pair", rng("10.0.0.3", "10.0.0.4"), "10.0.0.3-10.0.0.4"},
		{"odd size", rng("10.0.0.1", "10.0.0.9"), "10.0.0.1-10.0.0.9"},
		{"whole space", rng("0.0.0.0", "255.255.255.255"), "0.0.0.0-255.255.255.255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			back, warnings, err := ParseRanges(tt.r.String())
			if err != nil || len(warnings) > 0 || len(back) != 1 || back[0] != tt.r {
				t.Errorf("ParseRanges(String()) = %v, %v, %v; want %v", texts(back), warnings, err, texts([]Range{tt.r}))
			}
		})
	}
}

func TestRangeSizeAndContains(t *testing.T) {
	tests := []struct {
		name    string
		r       Range
		size    uint64
		in, out []string
	}{
		{"one", rng("10.0.0.5", "10.0.0.5"), 1, []string{"10.0.0.5"}, []string{"10.0.0.4", "10.0.0.6"}},
		{"span of /24s", rng("10.0.0.250", "10.0.1.5"), 12, []string{"10.0.0.250", "10.0.1.0", "10.0.1.5"}, []string{"10.0.0.249", "10.0.1.6"}},
		{"whole space", rng("0.0.0.0", "255.255.255.255"), 1 << 32, []string{"0.0.0.0", "255.255.255.255"}, []string{"::1", "::ffff:10.0.0.1"}},
		{"backwards is empty", rng("10.0.0.9", "10.0.0.1"), 0, nil, []string{"10.0.0.5"}},
		{"zero is empty", Range{}, 0, nil, []string{"0.0.0.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Size(); got != tt.size {
				t.Errorf("Size() = %d, want %d", got, tt.size)
			}
			for _, s := range tt.in {
				if !tt.r.Contains(ip(s)) {
					t.Errorf("Contains(%s) = false", s)
				}
			}
			for _, s := range tt.out {
				if tt.r.Contains(ip(s)) {
					t.Errorf("Contains(%s) = true", s)
				}
			}
		})
	}
	if (Range{}).Contains(netip.Addr{}) {
		t.Error("zero range contains zero address")
	}
}

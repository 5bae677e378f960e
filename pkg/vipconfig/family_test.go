package vipconfig

import (
	"net/netip"
	"testing"
)

// TestIPv4FamilyIsTheLegacyContract: the IPv4 family reads keys exactly as the
// functions the provider calls today.
func TestIPv4FamilyIsTheLegacyContract(t *testing.T) {
	for _, key := range []string{"10.0.0.1", "010.0.0.1", "::1", "2001-db8--1", "--ffff-10.0.0.1", "", "web"} {
		addr, ok := IPv4.CanonicalKey(key)
		want, wantOK := CanonicalKey(key)
		if addr != want || ok != wantOK {
			t.Errorf("IPv4.CanonicalKey(%q) = %v, %v; CanonicalKey gives %v, %v", key, addr, ok, want, wantOK)
		}
		a, e, err := IPv4.ParseEntry(key, "default/web:DR")
		wa, we, werr := ParseEntry(key, "default/web:DR")
		if a != wa || e != we || errString(err) != errString(werr) {
			t.Errorf("IPv4.ParseEntry(%q) = %v, %+v, %v; ParseEntry gives %v, %+v, %v", key, a, e, err, wa, we, werr)
		}
	}
	var zero Family
	if zero != IPv4 || IPv4.String() != "IPv4" || IPv6.String() != "IPv6" || Family(7).String() != "Family(7)" {
		t.Errorf("zero Family = %v, names %v %v %v; want IPv4, IPv4 IPv6 Family(7)", zero, IPv4, IPv6, Family(7))
	}
}

func TestFamilyKey(t *testing.T) {
	tests := []struct {
		family  Family
		addr    string
		want    string
		wantErr string
	}{
		{family: IPv4, addr: "10.0.0.1", want: "10.0.0.1"},
		{family: IPv4, addr: "2001:db8::1", wantErr: "2001:db8::1 is not an IPv4 address"},
		{family: IPv4, addr: "::ffff:10.0.0.1", wantErr: "is not an IPv4 address"},
		{family: IPv6, addr: "2001:db8::1", want: "2001-db8--1"},
		{family: IPv6, addr: "10.0.0.1", wantErr: "is an IPv4 address"},
		{family: IPv6, addr: "::ffff:10.0.0.1", wantErr: "IPv4-mapped"},
	}
	for _, tt := range tests {
		t.Run(tt.family.String()+" "+tt.addr, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			key, err := tt.family.Key(addr)
			if !errorContains(err, tt.wantErr) || key != tt.want {
				t.Fatalf("%v.Key(%s) = %q, %v; want %q, error containing %q", tt.family, addr, key, err, tt.want, tt.wantErr)
			}
			if err != nil {
				return
			}
			if back, ok := tt.family.CanonicalKey(key); !ok || back != addr {
				t.Errorf("%v.CanonicalKey(%q) = %v, %v; want %s", tt.family, key, back, ok, addr)
			}
		})
	}
}

func TestIPv6ParseEntry(t *testing.T) {
	tests := []struct {
		key, value string
		want       Entry
		wantAddr   string
		wantErr    string
	}{
		{key: "2001-db8--1", value: "default/web:DR", wantAddr: "2001:db8::1", want: Entry{"default/web", DR}},
		{key: "2001-db8--1", value: "default/web", wantAddr: "2001:db8::1", want: nat("default/web")},
		{key: "2001-db8--1", value: "", wantAddr: "2001:db8::1", wantErr: "is not <namespace>/<service>"},
		{key: "2001-db8--1", value: "default/web:dr", wantAddr: "2001:db8::1", wantErr: `forward method "dr"`},
		{key: "2001-0db8--1", value: "default/web", wantErr: `write it as "2001-db8--1"`},
		{key: "10.0.0.1", value: "default/web", wantErr: "publish it in the legacy ConfigMap"},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.value, func(t *testing.T) {
			addr, e, err := IPv6.ParseEntry(tt.key, tt.value)
			var want netip.Addr
			if tt.wantAddr != "" {
				want = netip.MustParseAddr(tt.wantAddr)
			}
			if !errorContains(err, tt.wantErr) || addr != want || e != tt.want {
				t.Errorf("IPv6.ParseEntry(%q, %q) = %v, %+v, %v; want %v, %+v, error containing %q", tt.key, tt.value, addr, e, err, want, tt.want, tt.wantErr)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

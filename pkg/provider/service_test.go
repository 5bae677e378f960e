package provider

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// TestRequestedAddresses: the annotation names one address per family, the spec
// field one of either family; mistakes are refused naming the value.
func TestRequestedAddresses(t *testing.T) {
	dual := []corev1.IPFamily{v4, v6}
	tests := []struct {
		name, annotation, spec string
		fams                   []corev1.IPFamily
		want4, want6           string
		wantErr                string
	}{
		{name: "none"},
		{name: "IPv4 annotation", annotation: "10.0.0.5", want4: "10.0.0.5"},
		{name: "both, any order, spaces", annotation: " fd00::5 , 10.0.0.5 ", fams: dual, want4: "10.0.0.5", want6: "fd00::5"},
		{name: "spec IPv6", spec: "fd00::5", fams: []corev1.IPFamily{v6}, want6: "fd00::5"},
		{name: "spec agrees with annotation", annotation: "10.0.0.5,fd00::5", spec: "fd00::5", fams: dual, want4: "10.0.0.5", want6: "fd00::5"},
		{name: "spec differs", annotation: "10.0.0.5", spec: "10.0.0.6", wantErr: `(\"10.0.0.5\") and spec.loadBalancerIP (\"10.0.0.6\") ask for different addresses`},
		{name: "spec of the other family", annotation: "10.0.0.5", spec: "fd00::5", fams: dual, wantErr: "ask for different addresses"},
		{name: "two of a family", annotation: "fd00::5,fd00::6", fams: dual, wantErr: `names two IPv6 addresses (fd00::5 and fd00::6)`},
		{name: "garbage", annotation: "10.0.0.5,web", wantErr: `"web" is not an IP address`},
		{name: "empty item", annotation: "10.0.0.5,", wantErr: `"" is not an IP address`},
		{name: "zone", annotation: "fe80::1%eth0", fams: dual, wantErr: `"fe80::1%eth0" is not an IP address`},
		{name: "mapped", annotation: "::ffff:10.0.0.5", wantErr: "write it as 10.0.0.5"},
		{name: "spec garbage", spec: "10.0.0.5,fd00::5", wantErr: `spec.loadBalancerIP: "10.0.0.5,fd00::5" is not an IP address`},
		{name: "family the Service lacks", annotation: "fd00::5", wantErr: "fd00::5, an IPv6 address, but its ipFamilies are [IPv4]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lbService("web")
			s.Spec.IPFamilies = tt.fams
			if tt.fams == nil {
				s.Spec.IPFamilies = []corev1.IPFamily{v4}
			}
			s.Spec.LoadBalancerIP = tt.spec
			if tt.annotation != "" {
				s.Annotations = map[string]string{AnnotationAddress: tt.annotation}
			}
			req, err := requestedAddresses(s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(tt.wantErr, `\"`, `"`)) {
					t.Fatalf("err = %v, want one saying %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got4, got6 := str(req[vipconfig.IPv4]), str(req[vipconfig.IPv6]); got4 != tt.want4 || got6 != tt.want6 {
				t.Errorf("requests %q, %q; want %q, %q", got4, got6, tt.want4, tt.want6)
			}
		})
	}
}

func str(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

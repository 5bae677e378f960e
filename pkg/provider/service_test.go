package provider

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/ledger"
	"github.com/munnerz/keepalived-cloud-provider/pkg/trafficpolicy"
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

// TestServes: a Service is ours when it is a LoadBalancer of our class, or of no
// class unless class-only; another class never is.
func TestServes(t *testing.T) {
	ours, other := "k8s.co/keepalived", "example.com/other"
	lb := func(class *string, typ corev1.ServiceType) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Type: typ, LoadBalancerClass: class}}
	}
	for _, c := range []struct {
		name      string
		svc       *corev1.Service
		classOnly bool
		want      bool
	}{
		{"no class", lb(nil, corev1.ServiceTypeLoadBalancer), false, true},
		{"no class, class-only", lb(nil, corev1.ServiceTypeLoadBalancer), true, false},
		{"our class", lb(&ours, corev1.ServiceTypeLoadBalancer), false, true},
		{"our class, class-only", lb(&ours, corev1.ServiceTypeLoadBalancer), true, true},
		{"another class", lb(&other, corev1.ServiceTypeLoadBalancer), false, false},
		{"our class, not a LoadBalancer", lb(&ours, corev1.ServiceTypeClusterIP), false, false},
	} {
		cfg := Config{Class: ours, ClassOnly: c.classOnly}
		if got := cfg.Serves(c.svc); got != c.want {
			t.Errorf("%s: Serves = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestDescribeSharing: the sharing key, ports and traffic policy reach the ledger;
// a Service without a key carries no ports.
func TestDescribeSharing(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{
		Type:                  corev1.ServiceTypeLoadBalancer,
		ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
		Ports:                 []corev1.ServicePort{{Protocol: corev1.ProtocolUDP, Port: 53}},
	}}
	in, _ := describe(svc, Config{})
	if in[0].Share != "" || in[0].Ports != nil || in[0].Local {
		t.Errorf("without a key: %+v, want no share, ports or Local", in[0])
	}
	svc.Annotations = map[string]string{AnnotationShare: " dns "}
	in, _ = describe(svc, Config{})
	want := []ledger.Port{{Protocol: "UDP", Number: 53}}
	if in[0].Share != "dns" || !slices.Equal(in[0].Ports, want) || !in[0].Local {
		t.Errorf("with key dns: %+v, want share dns, ports %v, Local", in[0], want)
	}
	svc.Annotations[trafficpolicy.AnnotationIgnore] = "true"
	if in, _ = describe(svc, Config{}); in[0].Local {
		t.Error("a Local Service the agent treats as Cluster is described as Local")
	}
}

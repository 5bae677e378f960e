package poolconfig

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func rng(first, last string) ipam.Range { return ipam.Range{First: ip(first), Last: ip(last)} }

// pool is an auto-assign pool serving every namespace, as a file gives by default.
func pool(name string, ranges ...ipam.Range) Pool {
	return Pool{Pool: ipam.Pool{Name: name, Ranges: ranges}, AutoAssign: true}
}

func serving(p Pool, namespaces ...string) Pool {
	p.Namespaces = namespaces
	return p
}

func manual(p Pool) Pool {
	p.AutoAssign = false
	return p
}

func avoiding(p Pool) Pool {
	p.AvoidBuggyIPs = true
	return p
}

// addrs compares netip.Addr by value, as cmp cannot see inside it.
var addrs = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func mustParse(t testing.TB, data string) *Config {
	t.Helper()
	cfg, _, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// messages splits an errors.Join error into its messages.
func messages(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// checkErr fails unless err's text is want ("" for no error) and, when is is
// set, err matches it.
func checkErr(t *testing.T, err error, want string, is error) {
	t.Helper()
	got := ""
	if err != nil {
		got = err.Error()
	}
	if got != want {
		t.Errorf("error = %q\nwant    %q", got, want)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q does not match %v", err, is)
	}
}

// notLabel is apimachinery's reason a name is not a DNS-1123 label.
func notLabel(name string) string {
	return strings.Join(validation.IsDNS1123Label(name), "; ")
}

const ipv6Reason = "IPv6 is not supported: kube-keepalived-vip cannot publish IPv6 addresses (ConfigMap keys cannot contain ':')"

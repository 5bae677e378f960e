package chart

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestBadValuesFail: each wrong value fails `helm template` (as it fails `helm install`)
// with a message that names the value, through values.schema.json or the chart's checks.
func TestBadValuesFail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, values string
		want         []string // every one must appear in the error
	}{
		{"not a number", "agent: {env: {KEEPALIVED_VRRP_INSTANCES: abc}}", []string{"/agent/env/KEEPALIVED_VRRP_INSTANCES", "'abc'"}},
		{"number out of range", "agent: {env: {KEEPALIVED_VIRTUAL_ROUTER_ID_BASE: 256}}", []string{"/agent/env/KEEPALIVED_VIRTUAL_ROUTER_ID_BASE", "256"}},
		{"misspelt variable", "agent: {env: {KEEPALIVED_VRRP_INSTNACES: 4}}", []string{"/agent/env", "'KEEPALIVED_VRRP_INSTNACES' not allowed"}},
		{"misspelt section", "provder: {replicas: 2}", []string{"'provder' not allowed"}},
		{"not a boolean", "agent: {env: {KEEPALIVED_UNICAST: \"yes\"}}", []string{"/agent/env/KEEPALIVED_UNICAST", "yes"}},
		{"not a CIDR", "provider: {env: {KEEPALIVED_SERVICE_CIDR: 10.0.0.0/33}}", []string{"/provider/env/KEEPALIVED_SERVICE_CIDR", "'10.0.0.0/33'"}},
		{"unknown forward method", "provider: {env: {KEEPALIVED_DEFAULT_FORWARD_METHOD: TUN}}", []string{"/provider/env/KEEPALIVED_DEFAULT_FORWARD_METHOD", "'TUN'"}},
		{"not a duration", "agent: {env: {KEEPALIVED_HEALTH_CHECK_INTERVAL: 2 seconds}}", []string{"/agent/env/KEEPALIVED_HEALTH_CHECK_INTERVAL", "'2 seconds'"}},
		{"not a URL", "agent: {env: {KEEPALIVED_HEALTH_CHECK_URL: 127.0.0.1:10256}}", []string{"/agent/env/KEEPALIVED_HEALTH_CHECK_URL", "'127.0.0.1:10256'"}},
		{"bad pool name", "provider: {poolsFile: {pools: [{name: Team-A, addresses: [10.0.0.0/28]}]}}", []string{"/provider/poolsFile/pools/0/name", "'Team-A'"}},
		{"unknown pool field", "provider: {poolsFile: {pools: [{name: a, addresses: [10.0.0.0/28], autoassign: false}]}}", []string{"/provider/poolsFile/pools/0", "'autoassign' not allowed"}},
		{"no addresses", "provider: {env: {KEEPALIVED_SERVICE_CIDR: null}}", []string{"provider.env.KEEPALIVED_SERVICE_CIDR is empty"}},
		{"pools twice", "provider: {poolsFile: {pools: [{name: a, addresses: [10.0.0.0/28]}]}, env: {KEEPALIVED_POOLS_FILE: /etc/p.yaml}}", []string{"provider.poolsFile or provider.env.KEEPALIVED_POOLS_FILE"}},
		{"agent reads another ConfigMap", "agent: {env: {KEEPALIVED_CONFIG_MAP: other}}", []string{`agent.env.KEEPALIVED_CONFIG_MAP ("other") must equal provider.env.KEEPALIVED_CONFIG_MAP ("vip-configmap")`}},
		{"agent reads another IPv6 ConfigMap", "agent: {env: {KEEPALIVED_CONFIG_MAP_IPV6: other}}", []string{`agent.env.KEEPALIVED_CONFIG_MAP_IPV6 ("other") must equal provider.env.KEEPALIVED_CONFIG_MAP_IPV6 ("vip-configmap-ipv6")`}},
		{"not an IPv6 CIDR", "provider: {env: {KEEPALIVED_SERVICE_CIDR: \"10.0.0.0/24,fd00::/129\"}}", []string{"/provider/env/KEEPALIVED_SERVICE_CIDR", "'10.0.0.0/24,fd00::/129'"}},
		{"two kinds of peers", "agent: {env: {KEEPALIVED_PEERS: a=10.0.0.1}}", []string{"KEEPALIVED_PEERS and agent.env.KEEPALIVED_PEER_NODE_SELECTOR"}},
		{"node init not a boolean", "nodeInit: {enabled: \"yes\"}", []string{"/nodeInit/enabled", "boolean"}},
		// The node controllers need their RBAC: the variable alone would only get forbidden.
		{"not a load balancer class", "provider: {env: {KEEPALIVED_LOAD_BALANCER_CLASS: \"two words\"}}", []string{"/provider/env/KEEPALIVED_LOAD_BALANCER_CLASS", "'two words'"}},
		{"class-only not a boolean", "provider: {env: {KEEPALIVED_CLASS_ONLY: sometimes}}", []string{"/provider/env/KEEPALIVED_CLASS_ONLY", "'sometimes'"}},
		{"node init without its RBAC", "provider: {env: {KEEPALIVED_INITIALIZE_NODES: true}}", []string{"/provider/env", "'KEEPALIVED_INITIALIZE_NODES' not allowed"}},
		{"router IDs past 255", "agent: {env: {KEEPALIVED_VIRTUAL_ROUTER_ID_BASE: 250}}", []string{"KEEPALIVED_VIRTUAL_ROUTER_ID_BASE=250", "up to 269"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helmTemplate(t, tc.values)
			if err == nil {
				t.Fatalf("values %s were accepted; rendered:\n%s", tc.values, out)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("values %s: the error does not say %q:\n%v", tc.values, want, err)
				}
			}
		})
	}
}

// TestValuesRender: values given the way users write them render as the binaries read them.
func TestValuesRender(t *testing.T) {
	t.Parallel()
	t.Run("unquoted numbers and booleans, empty URL", func(t *testing.T) {
		t.Parallel()
		objs := renderOK(t, "agent: {env: {KEEPALIVED_VRRP_INSTANCES: 8, KEEPALIVED_UNICAST: true, KEEPALIVED_HEALTH_CHECK_URL: \"\", KEEPALIVED_PEER_NODE_SELECTOR: null}}")
		env := envOf(daemonSet(t, objs).Spec.Template.Spec)
		for name, want := range map[string]string{"KEEPALIVED_VRRP_INSTANCES": "8", "KEEPALIVED_UNICAST": "true", "KEEPALIVED_HEALTH_CHECK_URL": ""} {
			if got, ok := env[name]; !ok || got != want {
				t.Errorf("%s = %q (set: %t), want %q", name, got, ok, want)
			}
		}
		if _, ok := env["KEEPALIVED_PEER_NODE_SELECTOR"]; ok {
			t.Error("KEEPALIVED_PEER_NODE_SELECTOR set to null is still passed")
		}
	})
	t.Run("listen port is the pod's port", func(t *testing.T) {
		t.Parallel()
		c := daemonSet(t, renderOK(t, "agent: {env: {KEEPALIVED_AGENT_LISTEN_ADDRESS: \"0.0.0.0:9800\"}}")).Spec.Template.Spec.Containers[0]
		if c.Ports[0].ContainerPort != 9800 || c.LivenessProbe.HTTPGet.Port.IntValue() != 9800 {
			t.Errorf("port %d, probe port %s; want 9800 for both", c.Ports[0].ContainerPort, c.LivenessProbe.HTTPGet.Port.String())
		}
	})
	t.Run("image digest", func(t *testing.T) {
		t.Parallel()
		digest := "sha256:" + strings.Repeat("ab", 32)
		d := find[*appsv1.Deployment](t, renderOK(t, "provider: {image: {digest: "+digest+"}}"), "Deployment kube-system/keepalived-cloud-provider")
		if got, want := d.Spec.Template.Spec.Containers[0].Image, "ghcr.io/munnerz/keepalived-cloud-provider@"+digest; got != want {
			t.Errorf("image %s, want %s", got, want)
		}
	})
	t.Run("RBAC follows a named IPv6 ConfigMap", func(t *testing.T) {
		t.Parallel()
		objs := renderOK(t, "provider: {env: {KEEPALIVED_CONFIG_MAP_IPV6: v6}}\nagent: {env: {KEEPALIVED_CONFIG_MAP_IPV6: v6}}")
		for _, id := range []string{"Role kube-system/keepalived-cloud-provider", "Role kube-system/keepalived-vip-agent"} {
			role := find[*rbacv1.Role](t, objs, id)
			if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Equal(r.ResourceNames, []string{"vip-configmap", "v6"}) }) {
				t.Errorf("%s: rules %+v, want resourceNames [vip-configmap v6]", id, role.Rules)
			}
		}
		env := envOf(find[*appsv1.Deployment](t, objs, "Deployment kube-system/keepalived-cloud-provider").Spec.Template.Spec)
		if env["KEEPALIVED_CONFIG_MAP_IPV6"] != "v6" {
			t.Errorf("provider env %v, want KEEPALIVED_CONFIG_MAP_IPV6=v6", env)
		}
	})
	t.Run("dual-stack pools", func(t *testing.T) {
		t.Parallel()
		renderOK(t, "provider: {env: {KEEPALIVED_SERVICE_CIDR: \"10.210.38.64/26, fd00:38::/120\"}}")
		renderOK(t, "provider: {poolsFile: {pools: [{name: a, addresses: [10.0.0.0/28, \"fd00::/120\", \"fd00:1::5-fd00:1::9\"]}]}}")
	})
	t.Run("RBAC follows the ConfigMap's namespace and name", func(t *testing.T) {
		t.Parallel()
		objs := renderOK(t, otherConfigMapValues)
		cm := find[*rbacv1.Role](t, objs, "Role other/keepalived-cloud-provider")
		if got := cm.Rules[1].ResourceNames; len(got) != 2 || got[0] != "vips" || got[1] != "vips-ipv6" {
			t.Errorf("provider Role in other: resourceNames %v, want [vips vips-ipv6]", got)
		}
		lease := find[*rbacv1.Role](t, objs, "Role kube-system/keepalived-cloud-provider")
		if len(lease.Rules) != 2 || lease.Rules[0].Resources[0] != "leases" {
			t.Errorf("provider Role in kube-system should hold only the Lease rules: %+v", lease.Rules)
		}
		agent := find[*rbacv1.Role](t, objs, "Role other/keepalived-vip-agent")
		if got := agent.Rules[0].ResourceNames; len(got) != 2 || got[0] != "vips" || got[1] != "vips-ipv6" {
			t.Errorf("agent Role: resourceNames %v, want [vips vips-ipv6]", got)
		}
		find[*rbacv1.RoleBinding](t, objs, "RoleBinding other/keepalived-cloud-provider")
		find[*rbacv1.RoleBinding](t, objs, "RoleBinding kube-system/keepalived-cloud-provider")
	})
}

// otherConfigMapValues moves the VIP ConfigMap to other/vips, for provider and agent.
const otherConfigMapValues = `
provider: {env: {KEEPALIVED_NAMESPACE: other, KEEPALIVED_CONFIG_MAP: vips}}
agent: {env: {KEEPALIVED_NAMESPACE: other, KEEPALIVED_CONFIG_MAP: vips}}
`

func renderOK(t *testing.T, values ...string) map[string]runtime.Object {
	t.Helper()
	out, err := helmTemplate(t, values...)
	if err != nil {
		t.Fatal(err)
	}
	return byID(t, decode(t, out))
}

func find[T runtime.Object](t *testing.T, objs map[string]runtime.Object, id string) T {
	t.Helper()
	obj, ok := objs[id].(T)
	if !ok {
		t.Fatalf("no %s among %v", id, sortedKeys(objs))
	}
	return obj
}

func daemonSet(t *testing.T, objs map[string]runtime.Object) *appsv1.DaemonSet {
	t.Helper()
	return find[*appsv1.DaemonSet](t, objs, "DaemonSet kube-system/keepalived-vip-agent")
}

func envOf(spec corev1.PodSpec) map[string]string {
	env := map[string]string{}
	for _, e := range spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	return env
}

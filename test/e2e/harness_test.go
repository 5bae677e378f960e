package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// The consumer's contract and the service controller's names, spelled out here rather
// than imported from the product, so that a rename in the product fails these tests.
const (
	annotationForwardMethod = "k8s.co/keepalived-forward-method"
	annotationAddress       = "k8s.co/keepalived-load-balancer-ip"
	annotationOwned         = "k8s.co/keepalived-cloud-provider-owned"
	annotationSeed          = "k8s.co/cloud-provider-config"
	cleanupFinalizer        = "service.kubernetes.io/load-balancer-cleanup"
	defaultConfigMap        = "vip-configmap"
	ipv6Suffix              = "-ipv6" // the IPv6 ConfigMap's name is the first's with this
	configMapNamespace      = "kube-system"
	leaseName               = "keepalived-cloud-provider"
)

// Timeouts for things the provider should do promptly.
const (
	assignTimeout = 30 * time.Second
	eventTimeout  = 30 * time.Second
)

// config describes one test's provider.
type config struct {
	// pool is KEEPALIVED_SERVICE_CIDR. Each test has its own, so that a leftover of one
	// test can never be mistaken for a result of another.
	pool string
	// configMap is --keepalived-config-map; empty means a name of the test's own, which
	// the test gets access to with an extra Role (as rbac.yaml says an operator must do
	// when renaming it). defaultConfigMap is covered by the product's RBAC alone.
	configMap string
	// env and args are added to the provider's environment and command line.
	env  []string
	args []string
	// manualStart leaves starting the provider to the test.
	manualStart bool
	// kubeconfig is the identity the provider runs as; empty means cp.ProviderKubeconfig.
	// Any token of the provider's ServiceAccount (cp.NewProviderIdentity) has its RBAC.
	kubeconfig string
}

// env is one test's world: a namespace, a ConfigMap, and a provider.
type env struct {
	t   *testing.T
	c   kubernetes.Interface // admin
	ns  string
	cm  string // the IPv4 ConfigMap, kube-keepalived-vip's
	cm6 string // the IPv6 ConfigMap beside it: cm with -ipv6
	cfg config
	p   *controlplane.Provider
}

func newEnv(t *testing.T, cfg config) *env {
	t.Helper()
	e := &env{t: t, c: cp.Client, ns: namespaceFor(t), cfg: cfg, cm: cfg.configMap}
	if e.cm == "" {
		e.cm = "vip-" + e.ns
	}
	e.cm6 = e.cm + ipv6Suffix
	ctx := context.Background()
	if _, err := e.c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", e.ns, err)
	}
	// Each test starts without the ConfigMaps, whatever an earlier test left.
	for _, name := range []string{e.cm, e.cm6} {
		if err := e.c.CoreV1().ConfigMaps(configMapNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("deleting ConfigMap %s: %v", name, err)
		}
	}
	if e.cm != defaultConfigMap {
		e.grantConfigMap(ctx)
	}
	t.Cleanup(e.cleanup)
	if !cfg.manualStart {
		e.startProvider()
	}
	return e
}

// runs counts the envs made per test, so that go test -count=N gets fresh namespaces.
var runs = map[string]int{}

// namespaceFor names the test's namespace after the test: "restart" for TestRestart,
// "restart-2" for its second run.
func namespaceFor(t *testing.T) string {
	name := dnsName(t.Name())
	runs[name]++
	if n := runs[name]; n > 1 {
		return fmt.Sprintf("%s-%d", name, n)
	}
	return name
}

// dnsName turns a test name into a namespace name.
func dnsName(testName string) string {
	s := strings.TrimPrefix(testName, "Test")
	s = regexp.MustCompile(`([a-z0-9])([A-Z])`).ReplaceAllString(s, "$1-$2")
	s = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(s), "-")
	return strings.Trim(s[:min(len(s), 50)], "-")
}

// grantConfigMap lets the provider's ServiceAccount read and write the test's ConfigMaps.
func (e *env) grantConfigMap(ctx context.Context) {
	e.t.Helper()
	name := "e2e-" + e.cm
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: configMapNamespace},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"configmaps"},
			ResourceNames: []string{e.cm, e.cm6}, Verbs: []string{"get", "list", "watch", "update", "patch"},
		}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: configMapNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{
			Kind: rbacv1.ServiceAccountKind, Name: controlplane.ServiceAccountName, Namespace: controlplane.ServiceAccountNamespace,
		}},
	}
	rbac := e.c.RbacV1()
	if _, err := rbac.Roles(configMapNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating Role %s: %v", name, err)
	}
	if _, err := rbac.RoleBindings(configMapNamespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating RoleBinding %s: %v", name, err)
	}
	e.t.Cleanup(func() {
		_ = rbac.RoleBindings(configMapNamespace).Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = rbac.Roles(configMapNamespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// The authorizer learns of new bindings through a watch: wait until it has.
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:" + controlplane.ServiceAccountNamespace + ":" + controlplane.ServiceAccountName,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: configMapNamespace, Verb: "update", Resource: "configmaps", Name: e.cm,
		},
	}}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := e.c.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		return err == nil && got.Status.Allowed, nil
	})
	if err != nil {
		e.t.Fatalf("ServiceAccount not allowed to update ConfigMap %s after granting it: %v", e.cm, err)
	}
}

// providerEnv is the provider's environment: the pool and whatever the test adds.
func (e *env) providerEnv() []string {
	var vars []string
	if e.cfg.pool != "" {
		vars = append(vars, "KEEPALIVED_SERVICE_CIDR="+e.cfg.pool)
	}
	return append(vars, e.cfg.env...)
}

// startProvider starts the provider (again) and waits until it leads.
func (e *env) startProvider() {
	e.t.Helper()
	if err := e.startProviderErr(); err != nil {
		e.t.Fatal(err)
	}
}

// startProviderErr is startProvider that returns, rather than reports, a provider that
// does not lead within 30 s (for instance because it exited).
func (e *env) startProviderErr() error {
	e.t.Helper()
	start := time.Now()
	if e.p == nil {
		args := append([]string{"--keepalived-config-map=" + e.cm}, e.cfg.args...)
		p, err := controlplane.StartProvider(controlplane.ProviderOptions{
			Binary:     providerBinary,
			Kubeconfig: e.kubeconfig(),
			LogPath:    filepath.Join(outputDir, e.ns, "provider.log"),
			Env:        e.providerEnv(),
			Args:       args,
		})
		if err != nil {
			e.t.Fatalf("starting the provider: %v", err)
		}
		e.p = p
	} else if err := e.p.Start(); err != nil {
		e.t.Fatalf("restarting the provider: %v", err)
	}
	providers.add(e.p)
	e.t.Logf("provider pid %d, secure port %d, log %s", e.p.PID(), e.p.Port, e.p.LogPath())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.p.WaitLeading(ctx); err != nil {
		if !e.p.Running() {
			code, _ := e.p.Wait(context.Background())
			return fmt.Errorf("provider exited with code %d before it led: %w\n%s", code, err, e.p.Tail(40))
		}
		return fmt.Errorf("provider never led: %w\n%s", err, e.p.Tail(40))
	}
	e.t.Logf("provider leads after %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// kubeconfig is the identity the test's providers run as.
func (e *env) kubeconfig() string {
	if e.cfg.kubeconfig != "" {
		return e.cfg.kubeconfig
	}
	return cp.ProviderKubeconfig
}

// killProvider stops the provider with SIGKILL: no chance to clean anything up.
func (e *env) killProvider() {
	e.t.Helper()
	if err := e.p.Kill(); err != nil {
		e.t.Fatalf("killing the provider: %v", err)
	}
}

// cleanup deletes the test's Services while its provider still runs (asserting that the
// provider lets them go and removes their entries), then stops the provider and removes
// its lease, so that the next test's provider leads at once.
func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if e.t.Failed() {
		e.dump(ctx)
	}
	e.deleteAllServices(ctx)
	if e.p != nil {
		if err := e.p.Stop(10 * time.Second); err != nil {
			e.t.Errorf("stopping the provider: %v", err)
		}
		providers.remove(e.p)
		if e.t.Failed() {
			e.t.Logf("provider log: %s", e.p.LogPath())
		}
	}
	// The stopped provider never released its lease; its holder is gone for sure.
	err := e.c.CoordinationV1().Leases(configMapNamespace).Delete(ctx, leaseName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Errorf("deleting lease %s: %v", leaseName, err)
	}
}

// deleteAllServices deletes the namespace's Services and, with a running provider,
// checks that they go away and leave no entry behind. Without one it strips finalizers.
func (e *env) deleteAllServices(ctx context.Context) {
	list, err := e.c.CoreV1().Services(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Errorf("cleanup: listing Services: %v", err)
		return
	}
	if len(list.Items) == 0 {
		return
	}
	for _, s := range list.Items {
		if err := e.c.CoreV1().Services(e.ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			e.t.Errorf("cleanup: deleting Service %s: %v", s.Name, err)
		}
	}
	if e.p != nil && e.p.Running() {
		waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for _, s := range list.Items {
			if err := controlplane.WaitForServiceGone(waitCtx, e.c, e.ns, s.Name); err != nil {
				e.t.Errorf("cleanup: %v", err)
			}
		}
		for _, cm := range []*corev1.ConfigMap{e.configMap(), e.configMapNamed(e.cm6)} {
			if cm == nil {
				continue
			}
			for k, v := range cm.Data {
				if strings.HasPrefix(v, e.ns+"/") {
					e.t.Errorf("cleanup: %s entry %q: %q left after all Services of %s were deleted", cm.Name, k, v, e.ns)
				}
			}
			if owned := cm.Annotations[annotationOwned]; owned != "" {
				e.t.Errorf("cleanup: %s %s is %q after all Services were deleted", cm.Name, annotationOwned, owned)
			}
		}
	}
	// Whatever is left (no provider, or a failed one): remove it by hand.
	for _, s := range list.Items {
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		_, err := e.c.CoreV1().Services(e.ns).Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			e.t.Errorf("cleanup: removing finalizers of %s: %v", s.Name, err)
		}
	}
}

// dump logs what the provider and the API show, for a failed test.
func (e *env) dump(ctx context.Context) {
	if e.p != nil {
		e.t.Logf("----- last lines of %s -----\n%s", e.p.LogPath(), e.p.Tail(60))
	}
	for _, cm := range []*corev1.ConfigMap{e.configMap(), e.configMapNamed(e.cm6)} {
		if cm != nil {
			e.t.Logf("ConfigMap %s: data=%v annotations=%v", cm.Name, cm.Data, cm.Annotations)
		}
	}
	if list, err := e.c.CoreV1().Services(e.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, s := range list.Items {
			e.t.Logf("Service %s", controlplane.DescribeService(&s))
			events, _ := controlplane.ServiceEvents(ctx, e.c, e.ns, s.Name)
			for _, ev := range events {
				e.t.Logf("    event %s (x%d): %s", ev.Reason, ev.Count, ev.Message)
			}
		}
	}
}

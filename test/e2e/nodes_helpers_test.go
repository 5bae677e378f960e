package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// Helpers for the tests of Node initialisation: Nodes as kubelet registers them with
// --cloud-provider=external, and the RBAC and settings of manifests/components/node-init.

// kubelet's and the operator's names, spelled out (see harness_test.go).
const (
	annotationProvidedNodeIP = "alpha.kubernetes.io/provided-node-ip"
	annotationInternalIPs    = "k8s.co/keepalived-internal-ips"
	annotationExternalIPs    = "k8s.co/keepalived-external-ips"
	annotationShutdown       = "k8s.co/keepalived-shutdown"
	taintUninitialized       = "node.cloudprovider.kubernetes.io/uninitialized"
	taintShutdown            = "node.cloudprovider.kubernetes.io/shutdown"
	providerIDScheme         = "keepalived://"
	nodeInitComponent        = "manifests/components/node-init"
)

// nodeTimeout bounds what the node controllers should do in about a second.
const nodeTimeout = 30 * time.Second

type nodeOption func(*corev1.Node)

// withNodeIP is kubelet's --node-ip (comma-separated, as kubelet annotates it).
func withNodeIP(ips string) nodeOption { return withNodeAnnotation(annotationProvidedNodeIP, ips) }

func withNodeAnnotation(key, value string) nodeOption {
	return func(n *corev1.Node) { n.Annotations[key] = value }
}

func withNodeLabel(key, value string) nodeOption {
	return func(n *corev1.Node) { n.Labels[key] = value }
}

func withTaint(key, value string) nodeOption {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffectNoSchedule})
	}
}

// withoutCloudTaint is a Node that was never waiting for a cloud provider.
func withoutCloudTaint() nodeOption {
	return func(n *corev1.Node) {
		n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == taintUninitialized })
	}
}

// nodeName is a Node name of the test's own: Nodes are cluster-wide and -count=N reruns.
func (e *env) nodeName(name string) string { return e.ns + "-" + name }

// createNode registers a Node the way kubelet --cloud-provider=external does: its
// labels, the uninitialized taint, and no addresses (kubelet leaves them to the cloud
// provider). It is deleted when the test ends.
func (e *env) createNode(name string, opts ...nodeOption) *corev1.Node {
	e.t.Helper()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: e.nodeName(name),
			Labels: map[string]string{
				"kubernetes.io/hostname": e.nodeName(name),
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
			Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: taintUninitialized, Value: "true", Effect: corev1.TaintEffectNoSchedule}}},
	}
	for _, o := range opts {
		o(n)
	}
	created, err := e.c.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating Node %s: %v", n.Name, err)
	}
	e.t.Cleanup(func() {
		err := e.c.CoreV1().Nodes().Delete(context.Background(), n.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			e.t.Errorf("cleanup: deleting Node %s: %v", n.Name, err)
		}
	})
	return created
}

func (e *env) getNode(name string) *corev1.Node {
	e.t.Helper()
	n, err := e.c.CoreV1().Nodes().Get(context.Background(), e.nodeName(name), metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("getting Node %s: %v", e.nodeName(name), err)
	}
	return n
}

// waitNode polls the Node until cond holds.
func (e *env) waitNode(name, what string, cond func(*corev1.Node) bool) *corev1.Node {
	e.t.Helper()
	var last *corev1.Node
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, nodeTimeout, true, func(ctx context.Context) (bool, error) {
		n, err := e.c.CoreV1().Nodes().Get(ctx, e.nodeName(name), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = n
		return cond(n), nil
	})
	if err != nil {
		e.t.Fatalf("Node %s: %s not seen within %s: %v\nlast seen: %s\n%s", e.nodeName(name), what, nodeTimeout, err, describeNode(last), e.p.Tail(30))
	}
	return last
}

// waitInitialized waits until the uninitialized taint is gone and says how long it took
// since start (the Node's creation timestamp has whole seconds only).
func (e *env) waitInitialized(name string, start time.Time) (*corev1.Node, time.Duration) {
	e.t.Helper()
	n := e.waitNode(name, "initialisation (the uninitialized taint removed)", func(n *corev1.Node) bool { return !hasTaint(n, taintUninitialized) })
	took := time.Since(start)
	e.t.Logf("Node %s initialised in %s", n.Name, took.Round(10*time.Millisecond))
	return n, took
}

func hasTaint(n *corev1.Node, key string) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key })
}

func describeNode(n *corev1.Node) string {
	if n == nil {
		return "(never read)"
	}
	return fmt.Sprintf("%s rv=%s providerID=%q taints=%v addresses=%v labels=%v annotations=%v",
		n.Name, n.ResourceVersion, n.Spec.ProviderID, n.Spec.Taints, n.Status.Addresses, n.Labels, n.Annotations)
}

func internalIP(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func externalIP(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip}
}

func hostnameAddress(name string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeHostName, Address: name}
}

// waitOutput waits until the provider has printed each text.
func (e *env) waitOutput(texts ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	for _, text := range texts {
		if err := e.p.WaitForOutput(ctx, text); err != nil {
			e.t.Fatalf("%v\n%s", err, e.p.Tail(30))
		}
	}
}

// waitAddresses waits until the Node's addresses are want, in this order.
func (e *env) waitAddresses(name string, want []corev1.NodeAddress) {
	e.t.Helper()
	e.waitNode(name, fmt.Sprintf("addresses %v", want), func(n *corev1.Node) bool {
		return cmp.Equal(want, n.Status.Addresses)
	})
}

// updateNode changes the Node with a read-modify-write (retried on conflict).
func (e *env) updateNode(name string, change func(*corev1.Node)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := e.c.CoreV1().Nodes().Get(context.Background(), e.nodeName(name), metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(n)
		_, err = e.c.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("updating Node %s: %v", e.nodeName(name), err)
	}
}

// assertNoForbidden fails the test if the provider's log shows a request the API server
// refused: the RBAC in force must cover every request the provider makes.
func (e *env) assertNoForbidden() {
	e.t.Helper()
	for _, line := range strings.Split(e.p.Output(), "\n") {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			e.t.Errorf("the provider was refused a request: %s", line)
		}
	}
}

// grantNodeInit applies what manifests/components/node-init adds to manifests/ (its
// RBAC), removes it when the test ends (later tests run with the default RBAC), and
// returns the environment the component gives the provider's container.
func grantNodeInit(t *testing.T) []string {
	t.Helper()
	base, withComponent := kustomizeObjects(t, "manifests"), kustomizeObjects(t, nodeInitOverlay(t))
	var added [][]byte
	for id, doc := range withComponent {
		if _, ok := base[id]; !ok {
			added = append(added, doc)
		}
	}
	if len(added) == 0 {
		t.Fatalf("%s adds no objects to manifests/", nodeInitComponent)
	}
	file := filepath.Join(t.TempDir(), "node-init.yaml")
	if err := os.WriteFile(file, bytes.Join(added, []byte("\n---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := cp.Kubectl(ctx, "apply", "-f", file); err != nil {
		t.Fatalf("kubectl apply -f (the objects %s adds): %v\n%s", nodeInitComponent, err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := cp.Kubectl(ctx, "delete", "--ignore-not-found", "-f", file); err != nil {
			t.Errorf("cleanup: kubectl delete -f (the objects of %s): %v\n%s", nodeInitComponent, err, out)
		}
		waitAllowed(t, "update", "nodes", false)
	})
	waitAllowed(t, "update", "nodes", true)
	return addedEnv(t, base, withComponent)
}

// nodeInitOverlay writes an overlay of manifests/ with the component, as an operator
// would, and returns its directory (kustomize wants relative paths).
func nodeInitOverlay(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\ncomponents: [%s]\n",
		filepath.Join(rel, "manifests"), filepath.Join(rel, nodeInitComponent))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// kustomizeObjects builds a kustomization (relative to the repository, or absolute) and
// returns its documents by "Kind namespace/name".
func kustomizeObjects(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := controlplane.Kustomize(ctx, repoRoot, dir)
	if err != nil {
		t.Fatal(err)
	}
	split, err := controlplane.Documents(out)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	docs := map[string][]byte{}
	for _, doc := range split {
		var obj struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, doc)
		}
		docs[fmt.Sprintf("%s %s/%s", obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name)] = doc
	}
	return docs
}

// addedEnv is the environment (KEY=VALUE) that the component adds to the provider's container.
func addedEnv(t *testing.T, base, withComponent map[string][]byte) []string {
	t.Helper()
	const id = "Deployment kube-system/keepalived-cloud-provider"
	env := func(docs map[string][]byte) []corev1.EnvVar {
		var d appsv1.Deployment
		if err := yaml.Unmarshal(docs[id], &d); err != nil || len(d.Spec.Template.Spec.Containers) == 0 {
			t.Fatalf("%s: %v\n%s", id, err, docs[id])
		}
		return d.Spec.Template.Spec.Containers[0].Env
	}
	baseEnv := env(base)
	var vars []string
	for _, v := range env(withComponent) {
		if !slices.Contains(baseEnv, v) {
			vars = append(vars, v.Name+"="+v.Value)
		}
	}
	return vars
}

// waitAllowed waits until the authorizer, which learns of RBAC changes through a watch,
// allows (or denies) the provider's ServiceAccount verb on resource.
func waitAllowed(t *testing.T, verb, resource string, want bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := review(ctx, verb, resource)
		return err == nil && got == want, nil
	})
	if err != nil {
		t.Fatalf("the provider's ServiceAccount never became allowed=%t to %s %s: %v", want, verb, resource, err)
	}
}

// allowed says whether the provider's ServiceAccount may verb resource now.
func allowed(t *testing.T, verb, resource string) bool {
	t.Helper()
	ok, err := review(context.Background(), verb, resource)
	if err != nil {
		t.Fatalf("SubjectAccessReview %s %s: %v", verb, resource, err)
	}
	return ok
}

// review asks the authorizer about the provider's ServiceAccount (resource may be "nodes/status").
func review(ctx context.Context, verb, resource string) (bool, error) {
	res, sub, _ := strings.Cut(resource, "/")
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + controlplane.ServiceAccountNamespace + ":" + controlplane.ServiceAccountName,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Resource: res, Subresource: sub},
	}}
	got, err := cp.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return got.Status.Allowed, nil
}

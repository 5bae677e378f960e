package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestManifestsServerDryRun: the real API server accepts every object of manifests/
// (and of the node agent's base, the pools-file and node-init examples and the legacy
// kube-keepalived-vip example) with kubectl apply --dry-run=server.
func TestManifestsServerDryRun(t *testing.T) {
	for _, dir := range []string{"manifests", "manifests/agent", "examples/pools-file", "examples/node-init", "manifests/example-keepalived-vip"} {
		t.Run(dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := cp.Kubectl(ctx, "apply", "--dry-run=server", "-k", filepath.Join(repoRoot, dir))
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server -k %s: %v\n%s", dir, err, out)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				// A warning (on stderr) about vip-configmap, which the provider created
				// without kubectl's last-applied annotation, is expected.
				if !strings.HasPrefix(l, "Warning: ") {
					lines = append(lines, l)
				}
			}
			for _, l := range lines {
				if !strings.HasSuffix(l, "(server dry run)") {
					t.Errorf("unexpected kubectl output line %q", l)
				}
			}
			if dir == "manifests" {
				for _, want := range []string{
					"serviceaccount/keepalived-cloud-provider",
					"deployment.apps/keepalived-cloud-provider",
					"poddisruptionbudget.policy/keepalived-cloud-provider",
					"clusterrole.rbac.authorization.k8s.io/keepalived-cloud-provider",
				} {
					if !strings.Contains(string(out), want) {
						t.Errorf("kubectl output does not list %s:\n%s", want, out)
					}
				}
			}
			t.Logf("%d objects accepted", len(lines))
		})
	}
}

// TestServiceAccountIsNotAdmin: the identity the provider runs as is the ServiceAccount
// of manifests/, and the API server enforces its RBAC (so every other test checks that
// RBAC is enough, and not more than the product needs is granted).
func TestServiceAccountIsNotAdmin(t *testing.T) {
	ctx := context.Background()
	sa, err := kubernetes.NewForConfig(cp.ProviderConfig)
	if err != nil {
		t.Fatal(err)
	}
	review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:kube-system:keepalived-cloud-provider"; review.Status.UserInfo.Username != want {
		t.Errorf("provider kubeconfig authenticates as %q, want %q", review.Status.UserInfo.Username, want)
	}

	if _, err := sa.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("listing Services: %v, want allowed", err)
	}
	denied := map[string]error{}
	_, denied["list secrets in kube-system"] = sa.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
	_, denied["get another ConfigMap in kube-system"] = sa.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	_, denied["create a ConfigMap in default"] = sa.CoreV1().ConfigMaps("default").Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "e2e-not-allowed"}}, metav1.CreateOptions{})
	_, denied["update a Service"] = sa.CoreV1().Services("default").Update(ctx,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}}, metav1.UpdateOptions{})
	denied["delete a Service"] = sa.CoreV1().Services("default").Delete(ctx, "kubernetes", metav1.DeleteOptions{})
	for what, err := range denied {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: got %v, want Forbidden", what, err)
		}
	}
}

// TestReapplyExampleConfigMap: re-applying the example's empty vip-configmap with kubectl
// apply (client-side and server-side), as its comment says, keeps the provider's entries
// and its ownership annotation, and the provider keeps managing them afterwards.
func TestReapplyExampleConfigMap(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.14.10-10.210.14.20", configMap: defaultConfigMap})
	e.createService("s")
	ip := e.waitIP("s")
	e.waitEntry(ip, e.key("s"))

	file := filepath.Join(repoRoot, "manifests", "example-keepalived-vip", "configmap.yaml")
	for _, mode := range [][]string{{"apply"}, {"apply", "--server-side", "--force-conflicts"}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := cp.Kubectl(ctx, append(mode, "-f", file)...)
		cancel()
		if err != nil {
			t.Fatalf("kubectl %s -f %s: %v\n%s", strings.Join(mode, " "), file, err, out)
		}
		cm := e.configMap()
		if cm.Data[ip] != e.key("s") || !slices.Contains(ownedKeys(cm), ip) {
			t.Errorf("after kubectl %s of the example ConfigMap: data=%v %s=%q, want entry %s: %s kept",
				strings.Join(mode, " "), cm.Data, annotationOwned, cm.Annotations[annotationOwned], ip, e.key("s"))
		}
	}
	e.deleteService("s")
	e.waitNoEntry(ip)
}

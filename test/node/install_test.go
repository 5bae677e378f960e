package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The test overlays: only what this machine forces, and why. {{root}} (the repository,
// relative to the overlay), {{apiPort}} and {{dir}} are filled in: kustomize reads the
// shipped bases where they are.
const (
	providerOverlay = `# Test overlay of manifests/ (test/node): only what this machine forces.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {{root}}/manifests
# kubelet runs with --cloud-provider=external: the provider initialises the Node.
components:
  - {{root}}/manifests/components/node-init
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: keepalived-cloud-provider
        namespace: kube-system
      spec:
        template:
          spec:
            containers:
              - name: keepalived-cloud-provider
                env:
                  # The pool: TEST-NET-2, on the test's veth; the shipped example
                  # pool could be a real network next to this machine.
                  - name: KEEPALIVED_SERVICE_CIDR
                    value: ` + pool + `
                  # No kube-proxy, so the kubernetes Service's ClusterIP does not
                  # route: the API server itself, on the test's bridge.
                  - name: KUBERNETES_SERVICE_HOST
                    value: "` + bridgeIP + `"
                  - name: KUBERNETES_SERVICE_PORT
                    value: "{{apiPort}}"
`
	agentOverlay = `# Test overlay of manifests/agent/ (test/node): only what this machine forces.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - {{root}}/manifests/agent
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: DaemonSet
      metadata:
        name: keepalived-vip-agent
        namespace: kube-system
      spec:
        template:
          spec:
            containers:
              - name: keepalived-vip-agent
                env:
                  # The host network is this machine's: VIPs and VRRP adverts only
                  # on the veth the test made.
                  - name: KEEPALIVED_INTERFACE
                    value: ` + vethName + `
                  # No kube-proxy, so no health check of it.
                  - name: KEEPALIVED_HEALTH_CHECK_URL
                    value: ""
                  - name: KUBERNETES_SERVICE_HOST
                    value: "` + bridgeIP + `"
                  - name: KUBERNETES_SERVICE_PORT
                    value: "{{apiPort}}"
            volumes:
              # All state under the test's folder, not in this machine's /run.
              - name: state
                hostPath:
                  path: {{dir}}/agent-state
`
)

// overlayDirs writes the overlays under dir (and a copy next to the logs) and returns
// their folders: provider, agent.
func (cl *cluster) overlayDirs(t *testing.T) (string, string) {
	t.Helper()
	var dirs []string
	for name, tmpl := range map[string]string{"provider": providerOverlay, "agent": agentOverlay} {
		for _, base := range []string{cl.dir, cl.logDir} {
			d := filepath.Join(base, "overlay", name)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			// kustomize takes bases by relative path only.
			rel, err := filepath.Rel(d, cl.root)
			if err != nil {
				t.Fatal(err)
			}
			vars := map[string]string{"root": rel, "apiPort": fmt.Sprint(cl.apiPort), "dir": cl.dir}
			if err := os.WriteFile(filepath.Join(d, "kustomization.yaml"), []byte(fill(tmpl, vars)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{"provider", "agent"} {
		dirs = append(dirs, filepath.Join(cl.dir, "overlay", name))
	}
	return dirs[0], dirs[1]
}

// kubectlCache keeps kubectl's discovery cache in the test's folder, not in ~/.kube.
func (cl *cluster) kubectlCache() string { return filepath.Join(cl.dir, "kubectl-cache") }

func (cl *cluster) kubectl(ctx context.Context, args ...string) (string, error) {
	out, err := cl.cp.Kubectl(ctx, append([]string{"--cache-dir=" + cl.kubectlCache()}, args...)...)
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// applyKustomize installs both as a user would: kubectl apply -k.
func (cl *cluster) applyKustomize(ctx context.Context, t *testing.T) {
	t.Helper()
	provider, agent := cl.overlayDirs(t)
	for _, d := range []string{provider, agent} {
		if _, err := cl.kubectl(ctx, "apply", "-k", d); err != nil {
			t.Fatal(err)
		}
	}
}

func (cl *cluster) deleteKustomize(ctx context.Context, t *testing.T) {
	t.Helper()
	provider, agent := filepath.Join(cl.dir, "overlay", "provider"), filepath.Join(cl.dir, "overlay", "agent")
	for _, d := range []string{agent, provider} {
		if _, err := cl.kubectl(ctx, "delete", "-k", d, "--wait=true", "--timeout=90s"); err != nil {
			t.Error(err)
		}
	}
}

// install runs apply and waits until both provider replicas and the agent are ready.
func (cl *cluster) install(ctx context.Context, t *testing.T, how string, apply func(context.Context, *testing.T)) {
	t.Helper()
	start := time.Now()
	apply(ctx, t)
	applied := since(start)
	if err := cl.waitWorkloadsReady(ctx); err != nil {
		t.Fatalf("%v\n%s", err, cl.describePods(ctx))
	}
	report("%s: applied in %s; 2/2 provider pods and the agent pod Running and Ready %s after the apply", how, applied, since(start))
}

// waitWorkloadsReady waits for the Deployment's two replicas and the DaemonSet's pod to
// be up to date, Running and Ready.
func (cl *cluster) waitWorkloadsReady(ctx context.Context) error {
	return pollUntil(ctx, 3*time.Minute, "2 provider pods and 1 agent pod Ready", func() (bool, string, error) {
		if err := cl.comps.alive(); err != nil {
			return false, "", err
		}
		d, err := cl.c.AppsV1().Deployments(systemNS).Get(ctx, providerName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		ds, err := cl.c.AppsV1().DaemonSets(systemNS).Get(ctx, agentName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		pods, err := cl.pods(ctx, "")
		if err != nil {
			return false, err.Error(), nil
		}
		return deploymentReady(d, 2) && daemonSetReady(ds, 1) && allReady(pods, 3), summarizePods(pods), nil
	})
}

func deploymentReady(d *appsv1.Deployment, n int32) bool {
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.ReadyReplicas == n && s.AvailableReplicas == n && s.Replicas == n
}

func daemonSetReady(ds *appsv1.DaemonSet, n int32) bool {
	s := ds.Status
	return s.ObservedGeneration >= ds.Generation && s.UpdatedNumberScheduled == n && s.NumberReady == n && s.DesiredNumberScheduled == n && s.NumberUnavailable == 0
}

// allReady reports whether there are exactly n pods, none terminating, all Ready.
func allReady(pods []corev1.Pod, n int) bool {
	if len(pods) != n {
		return false
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !podReady(&p) {
			return false
		}
	}
	return true
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// pods lists the shipped workloads' pods in kube-system; name "" means both.
func (cl *cluster) pods(ctx context.Context, name string) ([]corev1.Pod, error) {
	sel := nameLabel + " in (" + providerName + "," + agentName + ")"
	if name != "" {
		sel = nameLabel + "=" + name
	}
	list, err := cl.c.CoreV1().Pods(systemNS).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func summarizePods(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		s := fmt.Sprintf("%s %s ready=%t", p.Name, p.Status.Phase, podReady(&p))
		if p.DeletionTimestamp != nil {
			s += " terminating"
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				s += fmt.Sprintf(" waiting=%s(%s)", w.Reason, w.Message)
			}
			if cs.RestartCount > 0 {
				s += fmt.Sprintf(" restarts=%d", cs.RestartCount)
			}
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%d pods: %s", len(pods), strings.Join(parts, "; "))
}

// describePods is for failures: the pods, and the events of kube-system.
func (cl *cluster) describePods(ctx context.Context) string {
	pods, _ := cl.kubectl(ctx, "get", "pods", "-A", "-o", "wide")
	events, _ := cl.kubectl(ctx, "get", "events", "-A", "--sort-by=.lastTimestamp")
	return "pods:\n" + pods + "\nevents:\n" + events
}

// uninstall deletes the test's Services (while the provider still runs, so that it
// removes their entries and finalizers), then what was installed, and waits until no
// pod and no VIP is left.
func (cl *cluster) uninstall(ctx context.Context, t *testing.T, how string, del func(context.Context, *testing.T)) {
	t.Helper()
	start := time.Now()
	svcs, err := cl.c.CoreV1().Services(testNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range svcs.Items {
		if err := cl.c.CoreV1().Services(testNS).Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	}
	if err := pollUntil(ctx, time.Minute, "the test's Services gone", func() (bool, string, error) {
		list, err := cl.c.CoreV1().Services(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return len(list.Items) == 0, fmt.Sprintf("%d Services", len(list.Items)), nil
	}); err != nil {
		t.Error(err)
	}
	del(ctx, t)
	if err := cl.waitNoPods(ctx, 2*time.Minute); err != nil {
		t.Error(err)
	}
	if vips, err := cl.vipsOnVeth(); err != nil || len(vips) > 0 {
		t.Errorf("addresses left on %s after the uninstall: %v (%v)", vethName, vips, err)
	}
	report("%s: Services and workloads gone in %s; no pod and no VIP left", how, since(start))
}

func (cl *cluster) waitNoPods(ctx context.Context, limit time.Duration) error {
	return pollUntil(ctx, limit, "no pods left", func() (bool, string, error) {
		list, err := cl.c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return len(list.Items) == 0, summarizePods(list.Items), nil
	})
}

// deleteAllPods is the first step of the tear-down: the workloads go while the node
// still runs, so that kubelet stops their containers and keepalived removes its VIPs.
func (cl *cluster) deleteAllPods() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	policy := metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &policy}
	_ = cl.c.AppsV1().Deployments(systemNS).Delete(ctx, providerName, opts)
	_ = cl.c.AppsV1().DaemonSets(systemNS).Delete(ctx, agentName, opts)
	if err := cl.waitNoPods(ctx, 90*time.Second); err != nil {
		grace := int64(0)
		_ = cl.c.CoreV1().Pods(systemNS).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
		return err
	}
	return nil
}

package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// releaseName is the README's helm release name.
const releaseName = "keepalived-cloud-provider"

// The chart's variant: the same changes as the kustomize overlays, as values where the
// chart has them, and the API server's address (no value holds it) through a
// post-renderer that runs kustomize, as a user whose chart lacks a value would.
const (
	helmValues = `# Test values (test/node): only what this machine forces; see the kustomize overlays.
provider:
  env:
    KEEPALIVED_SERVICE_CIDR: ` + pool + `
agent:
  env:
    KEEPALIVED_INTERFACE: ` + vethName + `
    KEEPALIVED_HEALTH_CHECK_URL: ""
  stateHostPath: {{dir}}/agent-state
`
	postRenderer = `#!/bin/sh
# helm --post-renderer (test/node): the API server's address, which no value of the chart holds.
set -eu
cat >{{dir}}/helm/post-render/chart.yaml
exec {{kubectl}} kustomize {{dir}}/helm/post-render
`
	postRenderKustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - chart.yaml
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
                  - name: KUBERNETES_SERVICE_HOST
                    value: "` + bridgeIP + `"
                  - name: KUBERNETES_SERVICE_PORT
                    value: "{{apiPort}}"
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
                  - name: KUBERNETES_SERVICE_HOST
                    value: "` + bridgeIP + `"
                  - name: KUBERNETES_SERVICE_PORT
                    value: "{{apiPort}}"
`
)

func (cl *cluster) chartDir() string {
	return filepath.Join(cl.root, "charts", "keepalived-cloud-provider")
}

// hasChart reports whether the chart is in this tree.
func (cl *cluster) hasChart() bool {
	_, err := os.Stat(filepath.Join(cl.chartDir(), "Chart.yaml"))
	return err == nil
}

// helmBinary is the Makefile's helm, which hack/nodetools.sh builds.
func (cl *cluster) helmBinary(t *testing.T) string {
	t.Helper()
	m, err := os.ReadFile(filepath.Join(cl.root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(m), "\n") {
		if v, ok := strings.CutPrefix(line, "HELM_VERSION := "); ok {
			return filepath.Join(cl.root, "bin", "tools", "helm-"+strings.TrimSpace(v), "helm")
		}
	}
	t.Fatal("the Makefile sets no HELM_VERSION")
	return ""
}

func (cl *cluster) helm(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, cl.helmBinary(t), append([]string{"--kubeconfig", cl.cp.AdminKubeconfig}, args...)...)
	home := filepath.Join(cl.dir, "helm", "home")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data", "KUBECONFIG=", "KUBECACHEDIR="+cl.kubectlCache())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// helmInstall installs the chart as a user would: helm install into kube-system.
func (cl *cluster) helmInstall(ctx context.Context, t *testing.T) {
	t.Helper()
	vars := map[string]string{"dir": cl.dir, "apiPort": fmt.Sprint(cl.apiPort), "kubectl": cl.cp.KubectlPath}
	dir := filepath.Join(cl.dir, "helm")
	files := map[string]string{
		filepath.Join(dir, "values.yaml"):                                  helmValues,
		filepath.Join(dir, "post-render.sh"):                               postRenderer,
		filepath.Join(dir, "post-render", "kustomization.yaml"):            postRenderKustomization,
		filepath.Join(cl.logDir, "helm", "values.yaml"):                    helmValues,
		filepath.Join(cl.logDir, "helm", "post-render.sh"):                 postRenderer,
		filepath.Join(cl.logDir, "helm", "post-render.kustomization.yaml"): postRenderKustomization,
	}
	for path, tmpl := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(fill(tmpl, vars)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cl.helm(ctx, t, "install", releaseName, cl.chartDir(), "--namespace", systemNS,
		"--values", filepath.Join(dir, "values.yaml"), "--post-renderer", filepath.Join(dir, "post-render.sh"))
}

func (cl *cluster) helmUninstall(ctx context.Context, t *testing.T) {
	t.Helper()
	cl.helm(ctx, t, "uninstall", releaseName, "--namespace", systemNS, "--wait", "--timeout", "2m")
}

package netns

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// The agent's identity: the ServiceAccount of manifests/agent.
const (
	AgentServiceAccountNamespace = "kube-system"
	AgentServiceAccountName      = "keepalived-vip-agent"
)

// Register creates n as a Node with its InternalIPs (the agents' unicast peers: IPv4,
// and IPv6 when n has it), as a kubelet would, with labels.
func (n *Node) Register(ctx context.Context, c kubernetes.Interface, labels map[string]string) error {
	obj := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels}}
	obj, err := c.CoreV1().Nodes().Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating Node %s: %w", n.Name, err)
	}
	obj.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.Addr.String()}}
	if n.Addr6.IsValid() {
		obj.Status.Addresses = append(obj.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: n.Addr6.String()})
	}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, obj, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("setting the InternalIPs of Node %s: %w", n.Name, err)
	}
	return nil
}

// WriteAgentKubeconfig writes to path a kubeconfig for the agent's ServiceAccount
// (manifests/agent RBAC, which must be applied): a TokenRequest token valid for an
// hour, for the API server and CA of admin.
func WriteAgentKubeconfig(ctx context.Context, c kubernetes.Interface, admin *rest.Config, path string) error {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	tok, err := c.CoreV1().ServiceAccounts(AgentServiceAccountNamespace).CreateToken(ctx, AgentServiceAccountName, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for ServiceAccount %s/%s (manifests/agent): %w", AgentServiceAccountNamespace, AgentServiceAccountName, err)
	}
	cfg := &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}, BearerToken: tok.Status.Token}
	return controlplane.WriteKubeconfig(path, cfg, AgentServiceAccountName)
}

// APIServerPort is the port of the API server at host (a URL), which must be on the
// host's 127.0.0.1: each node gets a Forward of the same port inside its namespace.
func APIServerPort(host string) (int, error) {
	u, err := url.Parse(host)
	if err != nil {
		return 0, err
	}
	if u.Hostname() != "127.0.0.1" {
		return 0, fmt.Errorf("API server at %s; the node forwarders expect 127.0.0.1", host)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, fmt.Errorf("API server at %s: %w", host, err)
	}
	return port, nil
}

// AgentArgs are the flags that run keepalived-vip-agent for n as the DaemonSet runs
// it, here: host network in n's namespace (eth0), keepalived and ip from PATH, its
// state in configDir, /healthz and /metrics on 127.0.0.1:port inside the namespace,
// unicast adverts to the InternalIPs of the Nodes that peerSelector selects. Callers
// append the rest (instances, health check, verbosity).
func AgentArgs(n *Node, kubeconfig, configDir, peerSelector string, port int) []string {
	return []string{
		"--kubeconfig=" + kubeconfig, "--node-name=" + n.Name, "--interface=eth0",
		"--keepalived-command=keepalived", "--ip-command=ip",
		"--config-dir=" + configDir, "--listen-address=127.0.0.1:" + strconv.Itoa(port),
		"--peer-node-selector=" + peerSelector, "--unicast",
	}
}

// AgentEnv is this process's environment without the variables that would configure
// the agent besides its flags (KEEPALIVED_*, KUBECONFIG, NODE_NAME).
func AgentEnv() []string {
	return withoutVars(os.Environ(), "KEEPALIVED_", "KUBECONFIG", "NODE_NAME")
}

// withoutVars drops the variables whose names start with one of prefixes or equal one.
func withoutVars(env []string, prefixes ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

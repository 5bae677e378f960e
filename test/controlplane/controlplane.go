package controlplane

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
)

// The identity the provider runs as: the ServiceAccount of manifests/.
const (
	ServiceAccountNamespace = "kube-system"
	ServiceAccountName      = "keepalived-cloud-provider"
)

// Options configure Start.
type Options struct {
	// Root is the repository root (RepoRoot).
	Root string
	// Dir holds etcd's data, the API server's certificates and the kubeconfigs. It is
	// created if needed and removed by Stop. Empty means a new temporary directory.
	Dir string
	// Log receives the output of etcd and kube-apiserver; nil discards it.
	Log io.Writer
	// ManifestsWait is how long to wait for <root>/manifests to appear (it may still be
	// being written); zero means it must exist already.
	ManifestsWait time.Duration
	// Audit turns on kube-apiserver's audit log (JSON lines, <Dir>/audit.log, see
	// AuditLogPath) with AuditPolicy: the metadata of writes of ConfigMaps, Services and
	// Leases, nothing else. Stop removes it with Dir: copy it first to keep it.
	Audit bool
	// BindAddress is where kube-apiserver listens and what it advertises (and the
	// kubeconfigs name); empty means 127.0.0.1. It must be an address of this machine,
	// such as that of a bridge the caller made, so that pods on it reach the API server.
	BindAddress string
	// ServiceAccountAdmission turns on kube-apiserver's ServiceAccount admission plugin,
	// which envtest turns off: pods then get their ServiceAccount's token mounted.
	ServiceAccountAdmission bool
	// SkipManifests leaves manifests/ unapplied and mints no provider token
	// (ProviderConfig and ProviderKubeconfig stay empty): for a caller that installs the
	// manifests itself, as a user would.
	SkipManifests bool
	// APIServerFlags are further kube-apiserver flags (name without "--", value), set
	// after the ones above, e.g. the request-header (front proxy) settings that put
	// requestheader-client-ca-file into kube-system/extension-apiserver-authentication.
	APIServerFlags map[string]string
}

// ControlPlane is a running etcd + kube-apiserver with the product's RBAC applied.
type ControlPlane struct {
	Root string
	Dir  string
	// Admin is a system:masters identity; AdminKubeconfig is the same as a file.
	Admin           *rest.Config
	AdminKubeconfig string
	// Client talks to the API server as Admin.
	Client kubernetes.Interface
	// ProviderConfig and ProviderKubeconfig are the provider's ServiceAccount identity
	// (a TokenRequest token valid for an hour): not an admin. ProviderCredentialID is how
	// the audit log tells this token from other tokens of the same ServiceAccount.
	ProviderConfig       *rest.Config
	ProviderKubeconfig   string
	ProviderCredentialID string
	// AuditLogPath is kube-apiserver's audit log, or "" without Options.Audit.
	AuditLogPath string
	// KubectlPath is the kubectl next to the control plane binaries.
	KubectlPath string

	env *envtest.Environment
}

// Start starts etcd and kube-apiserver on 127.0.0.1 (kube-apiserver on Options.BindAddress
// when set) with the RBAC authorizer, applies manifests/ with kubectl as admin (unless
// Options.SkipManifests), and writes the admin and ServiceAccount kubeconfigs
// into Dir. On error everything it started is stopped again.
func Start(ctx context.Context, opts Options) (cp *ControlPlane, err error) {
	// envtest logs through controller-runtime's logger; without one it complains.
	crlog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(orDiscard(opts.Log), nil)))
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "keepalived-controlplane-"); err != nil {
			return nil, err
		}
	}
	c := &ControlPlane{Root: opts.Root, Dir: dir, KubectlPath: filepath.Join(AssetsDir(opts.Root), "kubectl")}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	if opts.Audit {
		if err := c.prepareAudit(); err != nil {
			return nil, err
		}
	}
	if err := c.startEnv(opts); err != nil {
		return nil, err
	}
	if err := c.setUpAdmin(ctx); err != nil {
		return nil, err
	}
	if opts.SkipManifests {
		return c, nil
	}
	if err := c.applyManifests(ctx, opts.ManifestsWait); err != nil {
		return nil, err
	}
	if err := c.setUpProviderIdentity(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ControlPlane) startEnv(opts Options) error {
	etcdDir, certDir := filepath.Join(c.Dir, "etcd"), filepath.Join(c.Dir, "apiserver")
	for _, d := range []string{etcdDir, certDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	ports, err := FreePorts(3)
	if err != nil {
		return err
	}
	out := orDiscard(opts.Log)
	etcd := &envtest.Etcd{
		DataDir: etcdDir,
		URL:     &url.URL{Scheme: "http", Host: loopback(ports[0])},
		Out:     out, Err: out,
	}
	etcd.Configure().Set("listen-peer-urls", "http://"+loopback(ports[1]))
	bind := opts.BindAddress
	if bind == "" {
		bind = "127.0.0.1"
	}
	apiServer := &envtest.APIServer{CertDir: certDir, Out: out, Err: out}
	apiServer.SecureServing = envtest.SecureServing{ListenAddr: envtest.ListenAddr{Address: bind, Port: strconv.Itoa(ports[2])}}
	if opts.ServiceAccountAdmission {
		apiServer.Configure().Disable("disable-admission-plugins")
	}
	apiServer.Configure().
		Set("advertise-address", bind).
		Set("endpoint-reconciler-type", "none").
		Set("authorization-mode", "RBAC").
		// Room for the ClusterIPs of the benchmark's 10,000 Services (envtest's default is a /24).
		Set("service-cluster-ip-range", "10.96.0.0/16")
	for name, value := range opts.APIServerFlags {
		apiServer.Configure().Set(name, value)
	}
	if c.AuditLogPath != "" {
		apiServer.Configure().
			Set("audit-policy-file", c.auditPolicyPath()).
			Set("audit-log-path", c.AuditLogPath).
			Set("audit-log-format", "json").
			// Each event is written by the request's own goroutine as it completes: no batching.
			Set("audit-log-mode", "blocking")
	}

	c.env = &envtest.Environment{
		BinaryAssetsDirectory:    AssetsDir(c.Root),
		UseExistingCluster:       ptr.To(false), // never talk to whatever $KUBECONFIG points at
		ControlPlane:             envtest.ControlPlane{Etcd: etcd, APIServer: apiServer},
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	if _, err := c.env.Start(); err != nil {
		return fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	return nil
}

func (c *ControlPlane) setUpAdmin(ctx context.Context) error {
	admin, err := c.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}},
		&rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return fmt.Errorf("adding the admin user: %w", err)
	}
	c.Admin = admin.Config()
	c.AdminKubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := WriteKubeconfig(c.AdminKubeconfig, c.Admin, "admin"); err != nil {
		return err
	}
	if c.Client, err = kubernetes.NewForConfig(c.Admin); err != nil {
		return err
	}
	// kube-system is made by the API server itself; create it should that ever change.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: metav1.NamespaceSystem}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace kube-system: %w", err)
	}
	return nil
}

// applyManifests runs `kubectl apply -k manifests/` as admin: the ServiceAccount, RBAC
// and the Deployment (which never runs: there is no kubelet).
func (c *ControlPlane) applyManifests(ctx context.Context, patience time.Duration) error {
	manifests := filepath.Join(c.Root, "manifests")
	kustomization := filepath.Join(manifests, "kustomization.yaml")
	err := wait.PollUntilContextTimeout(ctx, time.Second, max(patience, time.Second), true, func(context.Context) (bool, error) {
		_, err := os.Stat(kustomization)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%s did not appear within %s: %w", kustomization, patience, err)
	}
	if out, err := c.Kubectl(ctx, "apply", "-k", manifests); err != nil {
		return fmt.Errorf("kubectl apply -k manifests/: %w\n%s", err, out)
	}
	return nil
}

// setUpProviderIdentity mints a token for the provider's ServiceAccount with the
// TokenRequest API and writes a kubeconfig for it.
func (c *ControlPlane) setUpProviderIdentity(ctx context.Context) error {
	id, err := c.NewProviderIdentity(ctx, "provider")
	if err != nil {
		return err
	}
	c.ProviderConfig, c.ProviderKubeconfig, c.ProviderCredentialID = id.Config, id.Kubeconfig, id.CredentialID
	return nil
}

// Identity is one token of the provider's ServiceAccount: the same user, groups and RBAC
// as every other token of it, told apart in the audit log by CredentialID.
type Identity struct {
	Config     *rest.Config
	Kubeconfig string
	// CredentialID is the token's "authentication.kubernetes.io/credential-id"
	// ("JTI=<the token's jti claim>"), which the API server puts into user.extra of each
	// audit event of a request made with it.
	CredentialID string
}

// NewProviderIdentity mints a further token (valid for an hour) for the provider's
// ServiceAccount and writes a kubeconfig for it, <Dir>/<name>.kubeconfig. Two replicas
// given two such identities run under the product's RBAC exactly as deployed, yet their
// requests can be told apart.
func (c *ControlPlane) NewProviderIdentity(ctx context.Context, name string) (Identity, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	tok, err := c.Client.CoreV1().ServiceAccounts(ServiceAccountNamespace).CreateToken(ctx, ServiceAccountName, req, metav1.CreateOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("requesting a token for ServiceAccount %s/%s (made by manifests/): %w", ServiceAccountNamespace, ServiceAccountName, err)
	}
	jti, err := tokenJTI(tok.Status.Token)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{
		Config: &rest.Config{
			Host:            c.Admin.Host,
			TLSClientConfig: rest.TLSClientConfig{CAData: c.Admin.CAData},
			BearerToken:     tok.Status.Token,
		},
		Kubeconfig:   filepath.Join(c.Dir, name+".kubeconfig"),
		CredentialID: "JTI=" + jti,
	}
	return id, WriteKubeconfig(id.Kubeconfig, id.Config, ServiceAccountName)
}

// tokenJTI reads the jti claim of a JWT (without verifying it: the API server made it).
func tokenJTI(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("the TokenRequest token is not a JWT (%d parts)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("decoding the TokenRequest token's claims: %w", err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("decoding the TokenRequest token's claims: %w", err)
	}
	if claims.JTI == "" {
		return "", errors.New("the TokenRequest token has no jti claim: its requests cannot be told apart in the audit log")
	}
	return claims.JTI, nil
}

// Kubectl runs the control plane's kubectl as admin and returns its combined output.
func (c *ControlPlane) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.KubectlPath, append([]string{"--kubeconfig=" + c.AdminKubeconfig}, args...)...)
	cmd.Env = cleanEnv(os.Environ(), "KUBECONFIG")
	return cmd.CombinedOutput()
}

// Stop stops kube-apiserver and etcd and removes Dir. It is safe to call more than once.
func (c *ControlPlane) Stop() error {
	var errs []error
	if c.env != nil {
		errs = append(errs, c.env.Stop())
		c.env = nil
	}
	if c.Dir != "" {
		errs = append(errs, os.RemoveAll(c.Dir))
		c.Dir = ""
	}
	return errors.Join(errs...)
}

// RestartAPIServer kills kube-apiserver (SIGKILL: a crash, and no graceful shutdown
// to wait for), waits down, and starts it again on the same port with the same
// certificates and service-account keys (etcd keeps running), so clients and tokens
// stay valid.
func (c *ControlPlane) RestartAPIServer(down time.Duration) error {
	pids, err := ChildPIDs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "kube-apiserver" {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				return fmt.Errorf("killing kube-apiserver (pid %d): %w", pid, err)
			}
			waitReaped(pid)
		}
	}
	api := c.env.ControlPlane.APIServer
	if err := api.Stop(); err != nil { // reaps the killed process
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	time.Sleep(down)
	if err := api.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// waitReaped waits (a few seconds at most) until envtest has reaped the process.
func waitReaped(pid int) {
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a moment ago.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/utils/ptr"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// Helpers for the tests of the pools file (pools_*_test.go).

// More of the product's names, spelled out here for the same reason as in harness_test.go.
const (
	annotationPool  = "k8s.co/keepalived-pool"
	annotationUsage = "k8s.co/keepalived-pools-usage"
	envPoolsFile    = "KEEPALIVED_POOLS_FILE"
	// reloadTimeout bounds how long an edit of the pools file takes to apply: it is
	// polled every 2 s.
	reloadTimeout = 10 * time.Second
)

// poolsEnv is an env whose provider reads a pools file from a directory of the test's own.
// The file is a template: "{ns}" stands for the test's namespace and "{ns-X}" for the
// further namespace made with suffix X (see newPoolsEnv).
type poolsEnv struct {
	*env
	path string
	// others maps a suffix to a further namespace, "<ns>-<suffix>".
	others map[string]string
}

// newPoolsEnv makes the test's namespace and those named by suffixes, writes the pools
// file and starts the provider with KEEPALIVED_POOLS_FILE pointing at it.
func newPoolsEnv(t *testing.T, pools string, suffixes ...string) *poolsEnv {
	t.Helper()
	pe := preparePoolsEnv(t, pools, suffixes...)
	pe.startProvider()
	return pe
}

// preparePoolsEnv is newPoolsEnv without starting the provider.
func preparePoolsEnv(t *testing.T, pools string, suffixes ...string) *poolsEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pools.yaml")
	e := newEnv(t, config{env: []string{envPoolsFile + "=" + path}, manualStart: true})
	pe := &poolsEnv{env: e, path: path, others: map[string]string{}}
	for _, s := range suffixes {
		pe.addNamespace(s)
	}
	pe.writePools(pools)
	return pe
}

// addNamespace creates the namespace "<ns>-<suffix>". Its Services are deleted, and
// checked to leave no entry, before the provider stops.
func (pe *poolsEnv) addNamespace(suffix string) {
	t := pe.t
	t.Helper()
	ns := pe.ns + "-" + suffix
	ctx := context.Background()
	if _, err := pe.c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	pe.others[suffix] = ns
	// Registered after newEnv's cleanup, so it runs before it: the provider still runs.
	t.Cleanup(func() { deleteServicesIn(pe.in(suffix)) })
}

// in is an env for the further namespace made with suffix, sharing the provider and the
// ConfigMap: its helpers (createService, waitIP, waitEvent, key...) work there.
func (pe *poolsEnv) in(suffix string) *env {
	ns, ok := pe.others[suffix]
	if !ok {
		pe.t.Fatalf("no namespace with suffix %q", suffix)
	}
	other := *pe.env
	other.ns = ns
	return &other
}

// deleteServicesIn deletes the Services of a further namespace, waits for them to go and
// checks that none of their entries is left.
func deleteServicesIn(e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list, err := e.c.CoreV1().Services(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Errorf("cleanup: listing Services of %s: %v", e.ns, err)
		return
	}
	if e.t.Failed() {
		for _, s := range list.Items {
			e.t.Logf("Service %s", controlplane.DescribeService(&s))
			events, _ := controlplane.ServiceEvents(ctx, e.c, e.ns, s.Name)
			for _, ev := range events {
				e.t.Logf("    event %s (x%d): %s", ev.Reason, ev.Count, ev.Message)
			}
		}
	}
	for _, s := range list.Items {
		if err := e.c.CoreV1().Services(e.ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			e.t.Errorf("cleanup: deleting Service %s/%s: %v", e.ns, s.Name, err)
		}
	}
	running := e.p != nil && e.p.Running()
	for _, s := range list.Items {
		if running {
			if err := controlplane.WaitForServiceGone(ctx, e.c, e.ns, s.Name); err != nil {
				e.t.Errorf("cleanup: %v", err)
			}
		}
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if _, err := e.c.CoreV1().Services(e.ns).Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			e.t.Errorf("cleanup: removing finalizers of %s/%s: %v", e.ns, s.Name, err)
		}
	}
	if cm := e.configMap(); running && cm != nil {
		for k, v := range cm.Data {
			if strings.HasPrefix(v, e.ns+"/") {
				e.t.Errorf("cleanup: entry %q: %q left after all Services of %s were deleted", k, v, e.ns)
			}
		}
	}
}

// render fills in the namespace names of the template.
func (pe *poolsEnv) render(pools string) string {
	pairs := []string{"{ns}", pe.ns}
	for s, ns := range pe.others {
		pairs = append(pairs, "{ns-"+s+"}", ns)
	}
	return strings.NewReplacer(pairs...).Replace(pools)
}

// writePools replaces the pools file atomically, as the kubelet swaps a mounted
// ConfigMap: a new file in the same directory, renamed over the old one.
func (pe *poolsEnv) writePools(pools string) {
	pe.t.Helper()
	writeFileAtomically(pe.t, pe.path, pe.render(pools))
}

func writeFileAtomically(t *testing.T, path, content string) {
	t.Helper()
	if err := writeFileAtomicallyErr(path, content); err != nil {
		t.Fatalf("replacing %s: %v", path, err)
	}
}

// logMark is a position in the current provider process's output.
type logMark int

func (e *env) logMark() logMark { return logMark(len(e.p.Output())) }

// logSince is what the provider printed after mark.
func (e *env) logSince(mark logMark) string {
	out := e.p.Output()
	if int(mark) > len(out) {
		return ""
	}
	return out[mark:]
}

// waitLog waits until the provider has printed, after mark, one line holding every text.
func (e *env) waitLog(mark logMark, timeout time.Duration, texts ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range logEntries(e.logSince(mark)) {
			if containsEvery(line, texts) {
				return line
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("provider did not log %q within %s; its output since:\n%s", texts, timeout, e.logSince(mark))
		}
		if !e.p.Running() {
			e.t.Fatalf("provider exited while waiting for it to log %q:\n%s", texts, e.p.Tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logEntries splits klog output into entries; a multi-line value (err=<...>) stays
// with the line it belongs to.
func logEntries(out string) []string {
	var entries []string
	for _, line := range strings.Split(out, "\n") {
		if len(entries) > 0 && (strings.HasPrefix(line, "\t") || strings.HasPrefix(line, " >")) {
			entries[len(entries)-1] += "\n" + line
			continue
		}
		entries = append(entries, line)
	}
	return entries
}

func containsEvery(s string, texts []string) bool {
	for _, t := range texts {
		if !strings.Contains(s, t) {
			return false
		}
	}
	return true
}

// assertSameProcess checks that the provider still runs as the process pid.
func (e *env) assertSameProcess(pid int) {
	e.t.Helper()
	if !e.p.Running() {
		e.t.Fatalf("provider (pid %d) exited:\n%s", pid, e.p.Tail(40))
	}
	if got := e.p.PID(); got != pid {
		e.t.Fatalf("provider pid is %d, want %d: it was restarted", got, pid)
	}
}

// waitUsage waits until the pools part of the ConfigMap's usage summary reads want.
func (e *env) waitUsage(want string) {
	e.t.Helper()
	e.waitConfigMap(fmt.Sprintf("%s %q", annotationUsage, want), func(cm *corev1.ConfigMap) bool {
		pools, _, _ := strings.Cut(cm.Annotations[annotationUsage], "; ConfigMap: ")
		return pools == want
	})
}

// waitAssigned waits for the Service's address, checks it is want and that its entry is published.
func (e *env) waitAssigned(name, want string) {
	e.t.Helper()
	if got := e.waitIP(name); got != want {
		e.t.Fatalf("Service %s got %s, want %s", name, got, want)
	}
	e.waitEntry(want, e.key(name))
}

func withPool(name string) svcOption { return withAnnotation(annotationPool, name) }

// ----- /metrics -----

// metricsReader reads the provider's /metrics as a ServiceAccount of the test's namespace
// that is bound to the built-in ClusterRole system:monitoring. (A reader of its own
// rather than the provider's ServiceAccount: the product's RBAC stays as manifests/
// has it, which TestHealthz checks.)
type metricsReader struct {
	e      *env
	token  string
	client *http.Client
}

func (e *env) newMetricsReader() *metricsReader {
	e.t.Helper()
	ctx := context.Background()
	const sa = "metrics-reader"
	if _, err := e.c.CoreV1().ServiceAccounts(e.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating ServiceAccount %s/%s: %v", e.ns, sa, err)
	}
	name := "e2e-metrics-" + e.ns
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:monitoring"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: e.ns}},
	}
	if _, err := e.c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating ClusterRoleBinding %s: %v", name, err)
	}
	e.t.Cleanup(func() {
		_ = e.c.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:                  "system:serviceaccount:" + e.ns + ":" + sa,
		Groups:                []string{"system:serviceaccounts", "system:serviceaccounts:" + e.ns, "system:authenticated"},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	}}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := e.c.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		return err == nil && got.Status.Allowed, nil
	})
	if err != nil {
		e.t.Fatalf("ServiceAccount %s/%s not allowed to get /metrics after binding system:monitoring: %v", e.ns, sa, err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	tok, err := e.c.CoreV1().ServiceAccounts(e.ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("requesting a token for %s/%s: %v", e.ns, sa, err)
	}
	return &metricsReader{e: e, token: tok.Status.Token, client: &http.Client{
		Timeout: 5 * time.Second,
		// The serving certificate is self-signed, in memory; this is a loopback check.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}}
}

// scrape returns the current samples.
func (m *metricsReader) scrape() metricSamples {
	t := m.e.t
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", m.e.p.Port), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := m.client.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d %q, want 200", resp.StatusCode, body)
	}
	ms, err := parseMetrics(body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return ms
}

// metricSamples are the samples of one scrape; histograms and summaries appear as their
// _bucket, _sum and _count series, as in the text format.
type metricSamples testutil.Samples

// parseMetrics reads the text format. (Not testutil.ParseMetrics: it loops forever on
// input it cannot parse.)
func parseMetrics(body []byte) (metricSamples, error) {
	families, err := testutil.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, slices.Collect(maps.Values(families))...)
	if err != nil {
		return nil, err
	}
	return metricSamples(samples), nil
}

// get returns the value of the sample with exactly these labels (name, value pairs).
func (ms metricSamples) get(name string, labels ...string) (float64, bool) {
	want := testutil.Metric{testutil.MetricNameLabel: testutil.LabelValue(name)}
	for i := 0; i+1 < len(labels); i += 2 {
		want[testutil.LabelName(labels[i])] = testutil.LabelValue(labels[i+1])
	}
	for _, s := range ms {
		if s.Metric.Equal(want) {
			return float64(s.Value), true
		}
	}
	return 0, false
}

// of lists the samples of a metric, for failure messages.
func (ms metricSamples) of(name string) string {
	var lines []string
	for _, s := range ms.named(name) {
		lines = append(lines, fmt.Sprintf("%s %v", s.Metric, s.Value))
	}
	if len(lines) == 0 {
		return "(none)"
	}
	slices.Sort(lines)
	return strings.Join(lines, "; ")
}

func (ms metricSamples) named(name string) metricSamples {
	var out metricSamples
	for _, s := range ms {
		if s.Metric[testutil.MetricNameLabel] == testutil.LabelValue(name) {
			out = append(out, s)
		}
	}
	return out
}

// expectMetric checks a sample's value (labels as name, value pairs).
func (m *metricsReader) expectMetric(ms metricSamples, want float64, name string, labels ...string) {
	t := m.e.t
	t.Helper()
	got, ok := ms.get(name, labels...)
	switch {
	case !ok:
		t.Errorf("no sample %s%v; the samples of %s: %s", name, labels, name, ms.of(name))
	case got != want:
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// expectMetricAtLeast checks that a counter has reached min.
func (m *metricsReader) expectMetricAtLeast(ms metricSamples, least float64, name string, labels ...string) {
	t := m.e.t
	t.Helper()
	got, ok := ms.get(name, labels...)
	switch {
	case !ok:
		t.Errorf("no sample %s%v; the samples of %s: %s", name, labels, name, ms.of(name))
	case got < least:
		t.Errorf("%s%v = %v, want at least %v", name, labels, got, least)
	}
}

// waitMetric scrapes until the sample has the value want.
func (m *metricsReader) waitMetric(want float64, name string, labels ...string) metricSamples {
	t := m.e.t
	t.Helper()
	deadline := time.Now().Add(reloadTimeout)
	for {
		ms := m.scrape()
		if got, ok := ms.get(name, labels...); ok && got == want {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v never became %v; its samples: %s", name, labels, want, ms.of(name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ipWithin waits up to d for the Service's address and returns it, or "" if it has none.
func (e *env) ipWithin(name string, d time.Duration) string {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if ip := e.getIP(name); ip != "" || time.Now().After(deadline) {
			return ip
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// usage is the ConfigMap's usage summary now.
func (e *env) usage() string {
	if cm := e.configMap(); cm != nil {
		return cm.Annotations[annotationUsage]
	}
	return "(no ConfigMap)"
}

// writeFileAtomicallyErr is writeFileAtomically for goroutines: it returns its error.
func writeFileAtomicallyErr(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".pools-*.tmp")
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// eventsOf lists the events about the Service.
func eventsOf(e *env, name string) ([]corev1.Event, error) {
	return controlplane.ServiceEvents(context.Background(), e.c, e.ns, name)
}

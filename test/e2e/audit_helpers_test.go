package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// Helpers to count requests in kube-apiserver's audit log (controlplane.AuditPolicy: the
// metadata of every write of ConfigMaps, Services, Services' status and Leases).

// newIdentity mints a token of the provider's ServiceAccount of the test's own: same RBAC
// as manifests/ gives, a credential id of its own in the audit log.
func newIdentity(t *testing.T, name string) controlplane.Identity {
	t.Helper()
	id, err := cp.NewProviderIdentity(context.Background(), dnsName(t.Name())+"-"+name)
	if err != nil {
		t.Fatalf("minting a token %q for the provider's ServiceAccount: %v", name, err)
	}
	return id
}

// auditOffset is where the audit log ends now: read from here to see only later requests.
func (e *env) auditOffset() int64 {
	e.t.Helper()
	off, err := cp.AuditLogSize()
	if err != nil {
		e.t.Fatalf("reading the audit log: %v", err)
	}
	return off
}

// auditEvents are the audit log's events from offset on, after a barrier: an admin write
// made now is waited for in the log, so every request that completed before this call
// is in it too (each event is written by its request as it completes).
func (e *env) auditEvents(offset int64) []controlplane.AuditEvent {
	e.t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("audit-barrier-%d", time.Now().UnixNano())
	barrier := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}}
	if _, err := e.c.CoreV1().ConfigMaps(e.ns).Create(ctx, barrier, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating the audit barrier ConfigMap %s/%s: %v", e.ns, name, err)
	}
	defer func() { _ = e.c.CoreV1().ConfigMaps(e.ns).Delete(ctx, name, metav1.DeleteOptions{}) }()
	var events []controlplane.AuditEvent
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		var err error
		if events, err = cp.AuditEvents(offset); err != nil {
			return false, err
		}
		return slices.ContainsFunc(events, func(ev controlplane.AuditEvent) bool {
			return ev.Verb == "create" && ev.ObjectRef != nil && ev.ObjectRef.Namespace == e.ns && ev.ObjectRef.Name == name
		}), nil
	})
	if err != nil {
		e.t.Fatalf("the audit barrier (create ConfigMap %s/%s) never appeared in %s: %v", e.ns, name, cp.AuditLogPath, err)
	}
	return events
}

// writeCount sorts the write requests of one credential by what they wrote.
type writeCount struct {
	configMaps, services, serviceStatus, leases, other []string
}

// writesBy lists the write requests made with the credential whose request was received
// in [from, until).
func writesBy(events []controlplane.AuditEvent, credentialID string, from, until time.Time) writeCount {
	var c writeCount
	for i := range events {
		ev := &events[i]
		if ev.CredentialID() != credentialID || ev.RequestReceived.Before(from) || !ev.RequestReceived.Before(until) {
			continue
		}
		switch ev.Verb {
		case "create", "update", "patch", "delete", "deletecollection":
		default:
			continue
		}
		line := ev.String()
		switch ev.Resource() {
		case "configmaps":
			c.configMaps = append(c.configMaps, line)
		case "services":
			c.services = append(c.services, line)
		case "services/status":
			c.serviceStatus = append(c.serviceStatus, line)
		case "leases":
			c.leases = append(c.leases, line)
		default:
			c.other = append(c.other, line)
		}
	}
	return c
}

// shared is the number of writes of shared state: the ConfigMap and Services (objects
// and status). Lease writes are leader election's own business.
func (c writeCount) shared() int {
	return len(c.configMaps) + len(c.services) + len(c.serviceStatus) + len(c.other)
}

func (c writeCount) String() string {
	return fmt.Sprintf("ConfigMap %d, Service %d, Service status %d, Lease %d, other %d",
		len(c.configMaps), len(c.services), len(c.serviceStatus), len(c.leases), len(c.other))
}

// sharedLines lists every write of shared state, one a line.
func (c writeCount) sharedLines() string {
	var all []string
	for _, l := range [][]string{c.configMaps, c.services, c.serviceStatus, c.other} {
		all = append(all, l...)
	}
	return strings.Join(all, "\n")
}

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestPoolsEditWhileStandby: a provider that is waiting for the leader-election lease (a
// standby replica, or a new pod while the old one's lease runs out) has already read the
// pools file. An edit made during that wait must apply once it leads, as any other edit
// does: its Services get addresses of the edited pools.
func TestPoolsEditWhileStandby(t *testing.T) {
	pe := preparePoolsEnv(t, `
pools:
  - name: standby
    addresses: [10.210.210.10/32]
`)
	e := pe.env
	ctx := context.Background()
	// Someone else holds the lease for 8 s more.
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: leaseName, Namespace: configMapNamespace},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("e2e-another-replica"),
			LeaseDurationSeconds: ptr.To[int32](8),
			AcquireTime:          &now,
			RenewTime:            &now,
		},
	}
	if _, err := e.c.CoordinationV1().Leases(configMapNamespace).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating lease %s: %v", leaseName, err)
	}

	// Once the provider has validated the file and waits for the lease, edit the file.
	logPath := filepath.Join(outputDir, e.ns, "provider.log")
	edited := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if data, _ := os.ReadFile(logPath); strings.Contains(strings.ToLower(string(data)), "attempting to acquire leader lease") {
				edited <- writeFileAtomicallyErr(pe.path, edited3)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		edited <- os.ErrDeadlineExceeded
	}()
	e.startProvider()
	select {
	case err := <-edited:
		if err != nil {
			t.Fatalf("editing the pools file while the provider waited for the lease: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the pools file was never edited")
	}

	e.createService("s1")
	e.waitAssigned("s1", "10.210.210.10")
	e.createService("s2")
	if got := e.ipWithin("s2", reloadTimeout); got != "10.210.210.11" {
		// Evidence for the report: the same pools, touched once more after leading, apply.
		usage := e.usage()
		mark := e.logMark()
		pe.writePools(edited3 + "# touched after the provider led\n")
		after := e.ipWithin("s2", reloadTimeout)
		changed := strings.Contains(e.logSince(mark), "Address pools changed")
		t.Fatalf("s2 has address %q %s after it was created, want 10.210.210.11: the pools file was edited to "+
			"10.210.210.10-10.210.210.12 while the provider waited for the lease, but the pools in force are "+
			"still those read at start (usage annotation %q). Rewriting the same pools plus a comment after it "+
			"led: pools changed logged %t, s2 then has %q", got, reloadTimeout, usage, changed, after)
	}
	e.waitEntry("10.210.210.11", e.key("s2"))
	e.waitUsage("standby: 2 of 3 in use")
}

const edited3 = `
pools:
  - name: standby
    addresses: [10.210.210.10-10.210.210.12]
`

package agent

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/keepalived"
	"github.com/munnerz/keepalived-cloud-provider/pkg/agent/placement"
)

// testWatcher serves the given objects the way the informers would.
func testWatcher(t *testing.T, objs ...any) *watcher {
	t.Helper()
	svcs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	nodes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *corev1.Service:
			err = svcs.Add(o)
		case *corev1.Node:
			err = nodes.Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &watcher{services: corelisters.NewServiceLister(svcs), nodes: corelisters.NewNodeLister(nodes),
		slices: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{byService: sliceService})}
}

func drain(ch chan string) []string {
	var out []string
	for {
		select {
		case e := <-ch:
			out = append(out, e)
		default:
			return out
		}
	}
}

// A notification that makes this node master of an instance announces its VIPs: an
// event on each Service, the per-VIP metric; losing it withdraws them.
func TestHoldingFollowsInstanceStates(t *testing.T) {
	cfg := goldenConfig()
	a := New(cfg, nil, NewMetrics())
	a.watch = testWatcher(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "echo", UID: "u1"}})
	rec := record.NewFakeRecorder(10)
	a.events = rec
	vips := []keepalived.VIP{{Addr: netip.MustParseAddr("10.210.38.65"), Service: "default/echo"}, {Addr: netip.MustParseAddr("10.210.38.90")}}
	a.mu.Lock()
	a.vips, a.plan = vips, a.makePlan(a.placed(vips), cfg.Peers)
	a.mu.Unlock()
	inst := a.plan.InstanceFor[vips[0].Addr]

	a.onNotification(keepalived.Notification{Instance: inst, State: "MASTER"})
	if got, want := drain(rec.Events), []string{"Normal VIPAnnounced Node node-b announces 10.210.38.65 (VRRP instance " + inst + ")"}; !cmp.Equal(want, got) {
		t.Errorf("events (-want +got):\n%s", cmp.Diff(want, got))
	}
	if !a.holding[vips[0].Addr] {
		t.Errorf("not holding %s after MASTER", vips[0].Addr)
	}
	a.onNotification(keepalived.Notification{Instance: inst, State: "BACKUP"})
	if got, want := drain(rec.Events), []string{"Normal VIPWithdrawn Node node-b stopped announcing 10.210.38.65"}; !cmp.Equal(want, got) {
		t.Errorf("events (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// The first node of the rotation tells a Local Service with no endpoint why it is not
// announced, once; the others only count it.
func TestUnannouncedReportedOnceByTheFirstNode(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u2"},
		Spec: corev1.ServiceSpec{ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal}}
	for _, node := range []string{"node-a", "node-b"} {
		cfg := goldenConfig()
		cfg.NodeName = node
		a := New(cfg, nil, NewMetrics())
		a.watch = testWatcher(t, svc)
		rec := record.NewFakeRecorder(10)
		a.events = rec
		vips := []keepalived.VIP{{Addr: netip.MustParseAddr("10.210.38.70"), Service: "shop/web"}}
		plan := a.makePlan(a.placed(vips), cfg.Peers)
		if plan.Unannounced[vips[0].Addr] != placement.NoReadyEndpoint {
			t.Fatalf("%s: plan %+v; want the VIP unannounced for no ready endpoint", node, plan.Unannounced)
		}
		for range 2 {
			a.reportUnannounced(plan, vips, a.isReporter(cfg.Peers))
		}
		got := drain(rec.Events)
		if want := node == "node-a"; want != (len(got) == 1) || len(got) > 1 {
			t.Errorf("%s: events %v; want one from node-a only", node, got)
		}
		if len(got) == 1 && !strings.HasPrefix(got[0], "Warning VIPNotAnnounced 10.210.38.70 is not announced by any node: externalTrafficPolicy is Local") {
			t.Errorf("%s: event %q", node, got[0])
		}
	}
}

// A node labelled exclude-from-external-load-balancers keeps its rank (it faults its
// instances instead), and the next node reports unannounced VIPs.
func TestExcludedNodeKeepsItsRank(t *testing.T) {
	cfg := goldenConfig()
	cfg.NodeName = "node-b"
	a := New(cfg, nil, NewMetrics())
	a.watch = testWatcher(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{excludeLabel: ""}}})
	if diff := cmp.Diff([]string{"node-a", "node-b", "node-c"}, rotation(cfg.Peers)); diff != "" {
		t.Errorf("rotation (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"node-a"}, a.excludedPeers(cfg.Peers)); diff != "" {
		t.Errorf("excluded (-want +got):\n%s", diff)
	}
	if !a.isReporter(cfg.Peers) {
		t.Errorf("node-b does not report while node-a, first, is excluded")
	}
}

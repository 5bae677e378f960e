package vipconfig

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// views is a stand-in for the ledger: entries and a generation under a lock.
type views struct {
	mu      sync.Mutex
	gen     uint64
	entries map[netip.Addr]Entry
}

func (v *views) set(addr netip.Addr, e Entry) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.entries[addr] = e
	v.gen++
	return v.gen
}

func (v *views) view() View {
	v.mu.Lock()
	defer v.mu.Unlock()
	entries := make(map[netip.Addr]Entry, len(v.entries))
	for a, e := range v.entries {
		entries[a] = e
	}
	return View{Gen: v.gen, Ready: true, Entries: entries}
}

func startWriter(t *testing.T) (*Writer, *views, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset()
	v := &views{entries: map[netip.Addr]Entry{}}
	w := NewWriter(client, "kube-system", "vip-configmap", Hooks{View: v.view, Ready: func() bool { return true }, Observe: func(Snapshot) {}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go w.Run(ctx)
	return w, v, client
}

// TestWriterGroupCommit: many changes made at once go out in far fewer writes, and
// each caller returns only once a write carries its change.
func TestWriterGroupCommit(t *testing.T) {
	w, v, client := startWriter(t)
	const n = 200
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			addr := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			gen := v.set(addr, Entry{Service: fmt.Sprintf("ns/s%d", i), Method: NAT})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := w.Wait(ctx, gen); err != nil {
				t.Error(err)
				return
			}
			cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "vip-configmap", metav1.GetOptions{})
			if err != nil || cm.Data[addr.String()] != fmt.Sprintf("ns/s%d", i) {
				t.Errorf("Wait returned before entry %s was written (%v)", addr, err)
			}
		}(i)
	}
	wg.Wait()
	writes := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" || a.GetVerb() == "update" {
			writes++
		}
	}
	t.Logf("%d changes, %d writes", n, writes)
	if writes >= n/2 {
		t.Errorf("%d writes for %d changes: the writer does not batch", writes, n)
	}
}

// TestWriterRepairsDeletedConfigMap: told that the ConfigMap is gone, the writer
// creates it again with every entry, and reports the drift.
func TestWriterRepairsDeletedConfigMap(t *testing.T) {
	client := fake.NewClientset()
	v := &views{entries: map[netip.Addr]Entry{}}
	drifts := make(chan Drift, 10)
	w := NewWriter(client, "kube-system", "vip-configmap", Hooks{View: v.view, Ready: func() bool { return true }, Observe: func(Snapshot) {},
		Wrote: func(_ Rendered, d Drift, _ int) { drifts <- d }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go w.Run(ctx)
	gen := v.set(netip.MustParseAddr("10.0.0.1"), Entry{Service: "ns/a", Method: DR})
	if err := w.Wait(ctx, gen); err != nil {
		t.Fatal(err)
	}
	<-drifts
	if err := client.CoreV1().ConfigMaps("kube-system").Delete(ctx, "vip-configmap", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.Observed(nil)
	select {
	case d := <-drifts:
		if !d.Recreated {
			t.Errorf("drift = %+v, want Recreated", d)
		}
	case <-ctx.Done():
		t.Fatal("the deleted ConfigMap was not written again")
	}
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "vip-configmap", metav1.GetOptions{})
	if err != nil || cm.Data["10.0.0.1"] != "ns/a:DR" {
		t.Fatalf("re-created ConfigMap = %v, %v; want the entry back", cm, err)
	}
}

package vipconfig

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testNS, testName = "kube-system", "vip-configmap"

// views is a stand-in for the ledger: entries and a generation under a lock. It
// learns nothing from the ConfigMap, as a ledger whose rule diverged would not.
type views struct {
	mu      sync.Mutex
	gen     uint64
	entries map[netip.Addr]Entry
}

func (v *views) change(edit func(map[netip.Addr]Entry)) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil {
		v.entries = map[netip.Addr]Entry{}
	}
	edit(v.entries)
	v.gen++
	return v.gen
}

func (v *views) set(addr string, e Entry) uint64 {
	return v.change(func(m map[netip.Addr]Entry) { m[netip.MustParseAddr(addr)] = e })
}

func (v *views) drop(addr string) uint64 {
	return v.change(func(m map[netip.Addr]Entry) { delete(m, netip.MustParseAddr(addr)) })
}

// view hands out a fresh map each time, as the ledger does.
func (v *views) view() View {
	v.mu.Lock()
	defer v.mu.Unlock()
	return View{Gen: v.gen, Entries: maps.Clone(v.entries)}
}

func nat(service string) Entry { return Entry{Service: service, Method: NAT} }

// nthAddr is the i-th address of 10.0.0.0/16.
func nthAddr(i int) string { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String() }

// harness is a writer on a fake API server, with what its hooks heard.
type harness struct {
	t     *testing.T
	api   *fakeAPI
	views *views
	w     *Writer

	mu       sync.Mutex
	rounds   []Round
	observed int
}

func newHarness(t *testing.T, edits ...func(*Hooks)) *harness {
	t.Helper()
	h := &harness{t: t, api: newFakeAPI(), views: &views{}}
	hooks := Hooks{View: h.views.view, Ready: func() bool { return true }, Observe: h.observe, Wrote: h.wrote}
	for _, edit := range edits {
		edit(&hooks)
	}
	h.w = NewWriter(h.api.client(), testNS, testName, hooks)
	return h
}

func (h *harness) observe(Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.observed++
}

func (h *harness) wrote(r Round) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rounds = append(h.rounds, r)
}

// run starts the writer's loop; it has ended when the test's cleanups run on.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.w.Run(ctx)
	}()
	h.t.Cleanup(func() { cancel(); <-done })
}

// sync runs one round of the writer.
func (h *harness) sync() { h.w.sync(context.Background()) }

// lastRound is what the Wrote hook heard last.
func (h *harness) lastRound() Round {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.rounds) == 0 {
		h.t.Fatal("the Wrote hook was never called")
	}
	return h.rounds[len(h.rounds)-1]
}

func (h *harness) heard() (rounds, observed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rounds), h.observed
}

// stored is the ConfigMap as the fake API server holds it (nil: none).
func (h *harness) stored() *corev1.ConfigMap {
	h.t.Helper()
	obj, err := h.api.store.Get(configMapsResource, testNS, testName)
	if err != nil {
		return nil
	}
	return obj.(*corev1.ConfigMap)
}

// calls returns the verbs of the writer's calls since mark (a count of calls).
func (h *harness) calls(mark int) []string {
	var verbs []string
	for _, c := range h.api.recorded()[mark:] {
		verbs = append(verbs, c.verb)
	}
	return verbs
}

// someoneElse edits the ConfigMap as a person would: read, change, update
// (or create, when there is none).
func (h *harness) someoneElse(edit func(cm *corev1.ConfigMap)) *corev1.ConfigMap {
	h.t.Helper()
	api := h.api.Clientset.CoreV1().ConfigMaps(testNS)
	ctx := context.Background()
	cm, err := api.Get(ctx, testName, metav1.GetOptions{})
	if err != nil {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testName}, Data: map[string]string{}}
		edit(cm)
		if cm, err = api.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			h.t.Fatal(err)
		}
		return cm
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	edit(cm)
	if cm, err = api.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
	return cm
}

// deleteAsSomeoneElse deletes the ConfigMap.
func (h *harness) deleteAsSomeoneElse() {
	h.t.Helper()
	if err := h.api.Clientset.CoreV1().ConfigMaps(testNS).Delete(context.Background(), testName, metav1.DeleteOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

// override sets *p to v for the test. Call it before run, so that the writer's
// loop has ended when the old value comes back.
func override[T any](t *testing.T, p *T, v T) {
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// entriesString prints entries in address order, for messages.
func entriesString(m map[netip.Addr]Entry) string {
	parts := []string{}
	for _, a := range slices.SortedFunc(maps.Keys(m), netip.Addr.Compare) {
		parts = append(parts, fmt.Sprintf("%s: %s", a, m[a].Value()))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

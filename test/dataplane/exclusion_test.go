package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// excludeLabel is the label that keeps a node out of external load balancers (the
// service controller and MetalLB honour it); any value counts.
const excludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"

// testExclusion labels the holder of vip (a shared-instance VIP) with excludeLabel: it
// gives up every VIP at once and another node answers; without the label again, it is
// back to normal.
func (cl *cluster) testExclusion(ctx context.Context, t *testing.T, vip string) {
	holder := cl.home[vip]
	cl.waitBack(ctx, t, vip, holder)
	a := cl.agents[holder.Name]
	labelled := true
	unlabel := func() {
		if labelled {
			labelled = false
			cl.labelNode(ctx, t, holder.Name, nil)
		}
	}
	t.Cleanup(unlabel)
	before := cl.homesNow()
	start := time.Now()
	cl.labelNode(ctx, t, holder.Name, ptr.To(""))
	var goneAfter, answerAfter time.Duration
	var answerer *netns.Node
	err := poll(ctx, 15*time.Second, "no VIP left on "+holder.Name+" and another node answering for "+vip, func() (bool, string) {
		left := cl.topo.Addrs(holder)
		if goneAfter == 0 && len(left) == 0 {
			goneAfter = time.Since(start)
		}
		if answerer == nil {
			if n := cl.topo.NodeByMAC(cl.topo.ARPOwner(vip)); n != nil && n != holder {
				answerer, answerAfter = n, time.Since(start)
			}
		}
		return goneAfter > 0 && answerer != nil, fmt.Sprintf("on %s: %v; answered by %v", holder.Name, slices.Sorted(maps.Keys(left)), answerer)
	})
	if err != nil {
		t.Fatal(err)
	}
	report(t, "exclusion label on %s: all its VIPs gone from it after %s; %s answers for %s after %s",
		holder.Name, goneAfter.Round(time.Millisecond), answerer.Name, vip, answerAfter.Round(time.Millisecond))
	err = poll(ctx, 10*time.Second, "node_excluded 1 on "+holder.Name, func() (bool, string) {
		v, err := a.metric("keepalived_vip_agent_node_excluded")
		return err == nil && v == 1, fmt.Sprintf("%v (%v)", v, err)
	})
	if err != nil {
		t.Error(err)
	}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if left := cl.topo.Addrs(holder); len(left) > 0 {
			t.Errorf("excluded %s holds %v again", holder.Name, slices.Sorted(maps.Keys(left)))
			break
		}
	}
	cl.checkAnswers(t, vip)
	if moved := movedBesides(before, cl.homesNow(), holder.Name); len(moved) > 0 {
		report(t, "exclusion label on %s also moved VIPs it did not hold: %v", holder.Name, moved)
	}

	start = time.Now()
	unlabel()
	cl.waitBack(ctx, t, vip, holder)
	report(t, "exclusion label removed from %s: it holds %s again after %s", holder.Name, vip, time.Since(start).Round(time.Millisecond))
	cl.waitHome(ctx, t)
	if v, err := a.metric("keepalived_vip_agent_node_excluded"); err != nil || v != 0 {
		t.Errorf("node_excluded on %s = %v (%v) after the label went; want 0", holder.Name, v, err)
	}
}

// labelNode sets excludeLabel on node to *value, or removes it (nil).
func (cl *cluster) labelNode(ctx context.Context, t *testing.T, node string, value *string) {
	t.Helper()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]*string{excludeLabel: value}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.c.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Errorf("labelling Node %s: %v", node, err)
	}
}

// homesNow is where each shared-instance VIP is now (its holders).
func (cl *cluster) homesNow() map[string][]string {
	now := map[string][]string{}
	for vip := range cl.home {
		now[vip] = cl.topo.Holders(vip)
	}
	return now
}

// movedBesides lists the VIPs that moved from before to after, except those that
// were on node.
func movedBesides(before, after map[string][]string, node string) []string {
	var moved []string
	for _, vip := range slices.Sorted(maps.Keys(before)) {
		if !slices.Contains(before[vip], node) && !slices.Equal(before[vip], after[vip]) {
			moved = append(moved, fmt.Sprintf("%s %v → %v", vip, before[vip], after[vip]))
		}
	}
	return moved
}

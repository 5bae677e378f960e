package ledger

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

// ReasonShareRefused: the Service's sharing key names an address it may not share.
const ReasonShareRefused = "share_refused"

// holders are the Services holding addr: the one its entry names first.
func (o *owner) holders() []*record {
	if o.svc == nil {
		return nil
	}
	return append([]*record{o.svc}, o.also...)
}

// elect makes the holder of addr with the lowest key the one its entry names, as
// the ConfigMap's single value per address can name one Service only.
func (l *Ledger) elect(addr netip.Addr) {
	o := l.owners[addr]
	i := -1
	for j, r := range o.also {
		if r.key < o.svc.key && (i < 0 || r.key < o.also[i].key) {
			i = j
		}
	}
	if i < 0 {
		return
	}
	l.size = l.size.add(entrySize(addr, o.svc.entry), -1)
	o.svc, o.also[i] = o.also[i], o.svc
	l.size = l.size.add(entrySize(addr, o.svc.entry), 1)
	l.gen++
}

// join makes r hold addr beside the Services already sharing it.
func (l *Ledger) join(r *record, addr netip.Addr, entry vipconfig.Entry) {
	l.take(r, addr, entry)
	o := l.owners[addr]
	o.also = append(o.also, r)
	l.elect(addr)
}

// leaveShare takes r, which has just given up addr, out of its sharers, and
// reports whether others still hold addr (then it is not passed on).
func (l *Ledger) leaveShare(r *record, addr netip.Addr) bool {
	o := l.owners[addr]
	if i := slices.Index(o.also, r); i >= 0 {
		o.also = slices.Delete(o.also, i, i+1)
		return true
	}
	if o.svc != r || len(o.also) == 0 {
		return false
	}
	o.svc, o.also = o.also[0], o.also[1:]
	l.size = l.size.add(entrySize(addr, o.svc.entry), 1)
	l.gen++
	l.elect(addr)
	return true
}

// sharedAddress finds the address r's sharing key already has in its namespace:
// the one the sharer lowest by key holds.
func (l *Ledger) sharedAddress(r *record) netip.Addr {
	if r.share == "" {
		return netip.Addr{}
	}
	h := l.first(func(h *record) bool {
		return h != r && h.share == r.share && h.namespace == r.namespace && h.addr.IsValid() && !l.owners[h.addr].foreign
	})
	if h == nil {
		return netip.Addr{}
	}
	return h.addr
}

// refuseShare explains why r may not hold addr beside its holders; nil if it may.
func (l *Ledger) refuseShare(r *record, addr netip.Addr) error {
	o := l.owners[addr]
	if o == nil || o.svc == nil || o.svc.addr != addr {
		return nil
	}
	for _, h := range o.holders() {
		if h == r {
			continue
		}
		if err := l.shareable(r, h, addr); err != nil {
			return &AllocationError{Reason: ReasonShareRefused, Err: err}
		}
	}
	return nil
}

// shareable explains why r may not share addr with h, which holds it; nil if it may.
func (l *Ledger) shareable(r, h *record, addr netip.Addr) error {
	switch {
	case r.namespace != h.namespace:
		return fmt.Errorf("%s is held by a Service in another namespace: addresses are never shared across namespaces", addr)
	case r.share == "" || r.share != h.share:
		return fmt.Errorf("%s is held by %s with sharing key %q, and this Service's key is %q: give both annotation %s with the same value to share it",
			addr, h.key, h.share, r.share, AnnotationShare)
	case r.local || h.local:
		local := r.key
		if h.local {
			local = h.key
		}
		return fmt.Errorf("%s cannot share %s with %s: %s has externalTrafficPolicy Local, whose traffic must reach the nodes of its own endpoints; set externalTrafficPolicy Cluster on both, or give them different sharing keys (annotation %s)",
			r.key, addr, h.key, local, AnnotationShare)
	}
	for _, p := range r.ports {
		if slices.Contains(h.ports, p) {
			return fmt.Errorf("port %s collides with %s, which serves it on %s (sharing key %q): Services sharing an address must use different ports or protocols",
				p, h.key, addr, r.share)
		}
	}
	return nil
}

// keepShare makes r give up a shared address it may no longer share (its ports,
// traffic policy or key changed). Its status is then not followed back there.
func (l *Ledger) keepShare(r *record) {
	addr := r.addr
	if !addr.IsValid() || len(l.owners[addr].also) == 0 || l.refuseShare(r, addr) == nil {
		return
	}
	l.drop(r)
	if r.status == addr {
		r.unshared = addr
	}
}

// AnnotationShare is the Service annotation of the sharing key, named in messages.
const AnnotationShare = "k8s.co/keepalived-allow-shared-ip"

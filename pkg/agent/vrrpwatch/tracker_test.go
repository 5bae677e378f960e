package vrrpwatch

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// in builds a membership test over the given addresses.
func in(s ...string) func(netip.Addr) bool {
	set := addrs(s...)
	return func(a netip.Addr) bool { return slices.Contains(set, a) }
}

func ad(vrid int, src string, carried ...string) Advert {
	return Advert{Source: netip.MustParseAddr(src), Version: 2, VRID: vrid, Priority: 100, Addrs: addrs(carried...)}
}

func TestObserve(t *testing.T) {
	peers := in("192.0.2.1", "192.0.2.2")
	ours := in("10.0.0.1", "10.0.0.2")
	tests := []struct {
		name       string
		a          Advert
		isPeer     func(netip.Addr) bool
		wantReason string // "": not foreign
	}{
		{"peer with our addresses", ad(10, "192.0.2.1", "10.0.0.1", "10.0.0.2"), peers, ""},
		{"peer with no addresses", ad(10, "192.0.2.1"), peers, ""},
		{"stranger with our addresses", ad(10, "192.0.2.9", "10.0.0.1"), peers, "not one of our peers"},
		{"peer with foreign addresses", ad(10, "192.0.2.2", "10.0.0.1", "10.0.0.9", "10.0.0.8"), peers,
			"carries addresses that are not ours: 10.0.0.9, 10.0.0.8"},
		{"stranger with foreign address", ad(12, "192.0.2.9", "10.0.0.9"), peers,
			"not one of our peers; carries addresses that are not ours: 10.0.0.9"},
		{"peers unknown, our addresses", ad(10, "192.0.2.9", "10.0.0.1"), nil, ""},
		{"peers unknown, foreign address", ad(10, "192.0.2.9", "10.0.0.9"), nil, "carries addresses that are not ours: 10.0.0.9"},
		{"below range", ad(9, "192.0.2.9", "10.0.0.9"), peers, ""},
		{"above range", ad(13, "192.0.2.9", "10.0.0.9"), peers, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(10, 12, time.Minute)
			got := tr.Observe(tt.a, tt.isPeer, ours, t0)
			if tt.wantReason == "" {
				if got != nil || len(tr.Active()) != 0 {
					t.Fatalf("Observe() = %+v, Active() = %+v, want nothing foreign", got, tr.Active())
				}
				return
			}
			want := Speaker{VRID: tt.a.VRID, Source: tt.a.Source, Addrs: tt.a.Addrs, Reason: tt.wantReason}
			if got == nil || !equalSpeaker(*got, want) {
				t.Fatalf("Observe() = %+v, want %+v", got, want)
			}
			if active := tr.Active(); len(active) != 1 || !equalSpeaker(active[0], want) {
				t.Errorf("Active() = %+v, want [%+v]", active, want)
			}
		})
	}
}

func TestObserveReportsChangesOnce(t *testing.T) {
	peers, ours := in("192.0.2.1"), in("10.0.0.1")
	tr := NewTracker(1, 255, time.Minute)
	steps := []struct {
		a          Advert
		wantReport string // "": nothing reported
	}{
		{ad(5, "192.0.2.9", "10.0.0.1"), "not one of our peers"},
		{ad(5, "192.0.2.9", "10.0.0.1"), ""},
		{ad(5, "192.0.2.9", "10.0.0.9"), "not one of our peers; carries addresses that are not ours: 10.0.0.9"},
		{ad(5, "192.0.2.9", "10.0.0.9"), ""},
		{ad(5, "192.0.2.9", "10.0.0.1"), "not one of our peers"},
		{ad(6, "192.0.2.9", "10.0.0.1"), "not one of our peers"}, // another VRID is another pair
		{ad(5, "192.0.2.1", "10.0.0.1"), ""},                     // a peer: not foreign
	}
	for i, s := range steps {
		got := tr.Observe(s.a, peers, ours, t0.Add(time.Duration(i)*time.Second))
		switch {
		case s.wantReport == "" && got != nil:
			t.Errorf("step %d: Observe() = %+v, want nil", i, got)
		case s.wantReport != "" && (got == nil || got.Reason != s.wantReport):
			t.Errorf("step %d: Observe() = %+v, want reason %q", i, got, s.wantReport)
		}
	}
	if n := len(tr.Active()); n != 2 {
		t.Errorf("Active() has %d speakers, want 2", n)
	}
}

func TestExpire(t *testing.T) {
	peers, ours := in("192.0.2.1"), in("10.0.0.1")
	tr := NewTracker(1, 255, 10*time.Second)
	tr.Observe(ad(7, "192.0.2.9"), peers, ours, t0)
	tr.Observe(ad(3, "192.0.2.8"), peers, ours, t0)
	tr.Observe(ad(3, "192.0.2.7"), peers, ours, t0)
	tr.Observe(ad(4, "192.0.2.6"), peers, ours, t0.Add(5*time.Second))
	// A non-foreign advert from a foreign pair does not keep it alive.
	tr.Observe(ad(7, "192.0.2.9", "10.0.0.1"), nil, ours, t0.Add(9*time.Second))

	if got := tr.Expire(t0.Add(10 * time.Second)); len(got) != 0 {
		t.Errorf("Expire(hold) = %+v, want nothing: heard exactly hold ago is still heard", got)
	}
	got := tr.Expire(t0.Add(11 * time.Second))
	if want := []string{"3 192.0.2.7", "3 192.0.2.8", "7 192.0.2.9"}; !slices.Equal(keys(got), want) {
		t.Errorf("Expire() = %v, want %v", keys(got), want)
	}
	if want := []string{"4 192.0.2.6"}; !slices.Equal(keys(tr.Active()), want) {
		t.Errorf("Active() after Expire = %v, want %v", keys(tr.Active()), want)
	}
	if got := tr.Observe(ad(7, "192.0.2.9"), peers, ours, t0.Add(12*time.Second)); got == nil {
		t.Error("Observe() after expiry = nil, want the speaker reported again")
	}
}

func TestActiveOrder(t *testing.T) {
	tr := NewTracker(1, 255, time.Minute)
	for _, a := range []Advert{
		ad(20, "192.0.2.10"), ad(3, "192.0.2.200"), ad(20, "192.0.2.9"), ad(3, "192.0.2.30"), ad(100, "10.0.0.1"),
	} {
		tr.Observe(a, in(), nil, t0)
	}
	want := []string{"3 192.0.2.30", "3 192.0.2.200", "20 192.0.2.9", "20 192.0.2.10", "100 10.0.0.1"}
	if got := keys(tr.Active()); !slices.Equal(got, want) {
		t.Errorf("Active() = %v, want %v", got, want)
	}
}

func TestActiveIsACopy(t *testing.T) {
	tr := NewTracker(1, 255, time.Minute)
	a := ad(1, "192.0.2.9", "10.0.0.9")
	tr.Observe(a, nil, in(), t0)
	a.Addrs[0] = netip.MustParseAddr("10.0.0.1")
	tr.Active()[0].Addrs[0] = netip.MustParseAddr("10.0.0.2")
	if got := tr.Active()[0].Addrs; !slices.Equal(got, addrs("10.0.0.9")) {
		t.Errorf("Active()[0].Addrs = %v, want [10.0.0.9]: callers changed the tracker's state", got)
	}
}

func TestTrackerConcurrent(t *testing.T) {
	tr := NewTracker(1, 255, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				tr.Observe(ad(1+i%5, "192.0.2.9", "10.0.0.9"), nil, in(), now)
				if g%2 == 0 {
					tr.Expire(now)
					tr.Active()
				}
			}
		})
	}
	wg.Wait()
}

func equalSpeaker(a, b Speaker) bool {
	return a.VRID == b.VRID && a.Source == b.Source && a.Reason == b.Reason && slices.Equal(a.Addrs, b.Addrs)
}

func keys(s []Speaker) []string {
	out := make([]string, 0, len(s))
	for _, sp := range s {
		out = append(out, fmt.Sprintf("%d %s", sp.VRID, sp.Source))
	}
	return out
}

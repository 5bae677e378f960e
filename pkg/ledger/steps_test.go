package ledger

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// A ledgerCase rebuilds a ledger over 10.0.0.1-10.0.0.6 from services and the
// entries of ours listed, runs its steps, and checks the outcome: the published
// view, what each Service holds, and every event reported (rebuild included).
type ledgerCase struct {
	name     string
	opts     func(*Options)
	services []Service
	listed   map[string]string
	steps    []step
	view     map[string]string    // address → value
	holding  map[types.UID]string // "" for nothing
	events   []string             // "<kind> <uid> <addr>", in any order
}

type step func(t *testing.T, l *Ledger)

func runCases(t *testing.T, cases []ledgerCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func (c ledgerCase) run(t *testing.T) {
	l, events := newLedger(t, "10.0.0.0/29", c.opts, c.services, nil, c.listed)
	for _, s := range c.steps {
		s(t, l)
	}
	if got := published(l); !maps.Equal(got, c.view) {
		t.Errorf("view = %v, want %v", got, c.view)
	}
	for u, want := range c.holding {
		if got := holding(l, u); got != want {
			t.Errorf("%s holds %q, want %q", u, got, want)
		}
	}
	got := make([]string, 0, len(*events))
	for _, e := range *events {
		got = append(got, event(e.Kind, e.UID, e.Addr.String()))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(c.events))
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
}

func observes(s Service) step { return func(_ *testing.T, l *Ledger) { l.ObserveService(s) } }

func ensures(s Service, want string) step {
	return func(t *testing.T, l *Ledger) {
		t.Helper()
		addr, _, err := l.Ensure(s)
		if err != nil || addr.String() != want {
			t.Fatalf("Ensure(%s, UID %s) = %s, %v; want %s", s.Key, s.UID, addr, err, want)
		}
	}
}

// refuses expects Ensure to fail with reason, matching each of is.
func refuses(s Service, reason string, is ...error) step {
	return func(t *testing.T, l *Ledger) {
		t.Helper()
		addr, _, err := l.Ensure(s)
		var failure *AllocationError
		if !errors.As(err, &failure) || failure.Reason != reason {
			t.Fatalf("Ensure(%s, UID %s) = %s, %v; want a refusal of reason %s", s.Key, s.UID, addr, err, reason)
		}
		for _, target := range is {
			if !errors.Is(err, target) {
				t.Errorf("Ensure(%s) = %v; want it to match %v", s.Key, err, target)
			}
		}
	}
}

func releases(u types.UID) step {
	return func(t *testing.T, l *Ledger) { t.Helper(); release(t, l, u) }
}

func gone(u types.UID) step { return func(_ *testing.T, l *Ledger) { l.ServiceGone(u) } }

func setPools(cidr string) step {
	return func(t *testing.T, l *Ledger) {
		t.Helper()
		if err := l.SetPools(mustPools(t, cidr)); err != nil {
			t.Fatal(err)
		}
	}
}

// rebuilds rebuilds the ledger from services and the view it published last, as
// a standby does when it takes over.
func rebuilds(services ...Service) step {
	return func(t *testing.T, l *Ledger) {
		t.Helper()
		if err := l.Rebuild(slices.Clone(services), snapshot(nil, published(l))); err != nil {
			t.Fatal(err)
		}
	}
}

// foreignKeys shows the ledger a ConfigMap holding its view and data, written by someone else.
func foreignKeys(data map[string]string) step {
	return func(_ *testing.T, l *Ledger) { l.ObserveConfigMap(snapshot(data, published(l))) }
}

// sweeps runs the orphan sweep over the Services that exist, and forgets what it finds.
func sweeps(exist ...Service) step {
	return func(_ *testing.T, l *Ledger) {
		for _, u := range l.Orphans(func(key string, u types.UID) bool {
			return slices.ContainsFunc(exist, func(s Service) bool { return s.Key == key && s.UID == u })
		}) {
			l.ServiceGone(u)
		}
	}
}

// event is how runCases lists an event.
func event(k EventKind, u types.UID, addr string) string { return fmt.Sprintf("%s %s %s", k, u, addr) }

func conflict(u types.UID, addr string) string { return event(Conflict, u, addr) }

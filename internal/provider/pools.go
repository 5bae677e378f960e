package provider

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/munnerz/keepalived-cloud-provider/internal/ipam"
	"github.com/munnerz/keepalived-cloud-provider/internal/poolconfig"
)

// allocationError is a Service's failure to get an address, labelled for the failures metric.
type allocationError struct {
	pool, reason string
	err          error
}

func (e *allocationError) Error() string { return e.err.Error() }
func (e *allocationError) Unwrap() error { return e.err }

// failure labels err with the pool addr lies in ("" outside every pool).
func (s *state) failure(addr netip.Addr, reason string, err error) error {
	pool, _ := s.alloc.PoolOf(addr)
	return &allocationError{pool: pool, reason: reason, err: err}
}

// permittedRequest returns the address the Service asks for, if its pools allow it.
func (s *state) permittedRequest(svc *corev1.Service) (netip.Addr, error) {
	addr, err := requestedAddress(svc)
	if err != nil || !addr.IsValid() {
		return addr, err
	}
	poolName := svc.Annotations[poolconfig.PoolAnnotation]
	if err := s.pools.PermitsRequest(svc.Namespace, poolName, addr); err != nil {
		return netip.Addr{}, s.failure(addr, reasonNotAllowed, fmt.Errorf("requested address %s: %w", addr, err))
	}
	return addr, nil
}

// allocate takes the lowest free address of the first of the Service's pools that has one.
func (s *state) allocate(namespace, poolName, holder string) (netip.Addr, error) {
	names, err := s.pools.Candidates(namespace, poolName)
	if err != nil {
		label := "" // an unknown name from an annotation must not become a metric label
		if _, known := s.pools.Lookup(poolName); known {
			label = poolName
		}
		return netip.Addr{}, &allocationError{pool: label, reason: reasonNotAllowed, err: err}
	}
	if len(names) == 0 {
		return netip.Addr{}, &allocationError{reason: reasonNotAllowed, err: fmt.Errorf(
			"no address pool hands out addresses in namespace %q: add it to a pool's namespaces, name a pool with annotation %s, or request an address",
			namespace, poolconfig.PoolAnnotation)}
	}
	var full []error
	for _, name := range names {
		addr, err := s.alloc.Allocate(name, holder)
		if !errors.Is(err, ipam.ErrExhausted) {
			return addr, err
		}
		if name != poolconfig.DefaultPool {
			err = fmt.Errorf("pool %q: %w", name, err)
		}
		full = append(full, err)
	}
	return netip.Addr{}, &allocationError{pool: names[0], reason: reasonExhausted, err: joinedErrors(full)}
}

// joinedErrors is errors.Join on one line, for event messages.
type joinedErrors []error

func (j joinedErrors) Error() string {
	msgs := make([]string, len(j))
	for i, err := range j {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (j joinedErrors) Unwrap() []error { return j }

// usageSummary is the UsageAnnotation: how full each pool is, for people without
// Prometheus, counting freed as already released (they are, once the write lands).
func (s *state) usageSummary(freed ...netip.Addr) string {
	gone := map[string]uint64{}
	for _, addr := range freed {
		if pool, ok := s.alloc.PoolOf(addr); ok {
			gone[pool]++
		}
	}
	var pools []string
	for _, u := range s.alloc.Usage() {
		pools = append(pools, fmt.Sprintf("%s: %d of %d in use", u.Name, u.InUse-min(gone[u.Name], u.InUse), u.Size))
	}
	return strings.Join(pools, "; ")
}

// outsidePools counts published addresses that lie outside every pool.
func (s *state) outsidePools() int {
	n := 0
	for _, addr := range s.assigned {
		if _, ok := s.alloc.PoolOf(addr); !ok {
			n++
		}
	}
	return n
}

// observeUsage refreshes the pool metrics from the state.
func (l *LoadBalancer) observeUsage() {
	if l.state != nil {
		l.metrics.observeUsage(l.state.alloc.Usage(), l.state.outsidePools())
	}
}

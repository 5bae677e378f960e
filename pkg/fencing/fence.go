// Package fencing keeps a replica that is not certain to hold the leader lease from
// writing anything. The upstream leader elector notices a lost lease only at its next
// renewal attempt; a process that was frozen (SIGSTOP, a stalled VM, a long GC pause)
// resumes believing it leads, with a stale memory. The fence watches the elector's
// own lease writes through the client transport and lets other writes through only
// while the last successful renewal is younger than the renew deadline, by this
// process's own monotonic clock: no clock of another machine is involved.
package fencing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ErrNotLeading refuses a write while the lease is not certainly held.
var ErrNotLeading = errors.New("this replica is not certain to hold the leader lease")

// Fence is safe for concurrent use. The zero of an unused fence (nil) lets everything through.
type Fence struct {
	leasePath, leasesPath string
	renewDeadline         time.Duration

	mu      sync.Mutex
	renewed time.Time // when the last successful renewal was sent
}

// New fences writes by the lease namespace/name, renewed by the elector within renewDeadline.
func New(namespace, name string, renewDeadline time.Duration) *Fence {
	collection := "/apis/coordination.k8s.io/v1/namespaces/" + namespace + "/leases"
	return &Fence{leasesPath: collection, leasePath: collection + "/" + name, renewDeadline: renewDeadline}
}

// Check says until when this replica certainly holds the lease, or why it does not.
// A nil fence (leader election off) allows everything, with no deadline.
func (f *Fence) Check() (deadline time.Time, err error) {
	if f == nil {
		return time.Time{}, nil
	}
	f.mu.Lock()
	renewed := f.renewed
	f.mu.Unlock()
	if renewed.IsZero() {
		return time.Time{}, fmt.Errorf("%w: it has not acquired the lease yet", ErrNotLeading)
	}
	deadline = renewed.Add(f.renewDeadline)
	if age := time.Since(renewed); age >= f.renewDeadline {
		return time.Time{}, fmt.Errorf("%w: its last renewal was %s ago, past the renew deadline of %s (was this process paused or cut off from the API server?); it writes nothing until it renews",
			ErrNotLeading, age.Round(time.Millisecond), f.renewDeadline)
	}
	return deadline, nil
}

// Wrap is a rest.Config WrapTransport: the elector's lease writes renew the fence,
// reads and events pass, and every other write is refused while the fence is shut
// and otherwise sent with the fence's deadline, so that a process frozen between
// the check and the send finds its request expired instead of sending it late.
func (f *Fence) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &transport{fence: f, next: rt}
}

type transport struct {
	fence *Fence
	next  http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case t.fence.isLeaseWrite(req):
		return t.renew(req)
	case readOnly(req.Method) || isEvent(req.URL.Path):
		return t.next.RoundTrip(req)
	}
	deadline, err := t.fence.Check()
	if err != nil {
		return nil, fmt.Errorf("%s %s refused: %w", req.Method, req.URL.Path, err)
	}
	ctx, cancel := context.WithDeadline(req.Context(), deadline)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// renew sends the elector's write and, when it succeeds, records when it was sent.
func (t *transport) renew(req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode/100 == 2 {
		t.fence.mu.Lock()
		if sent.After(t.fence.renewed) {
			t.fence.renewed = sent
		}
		t.fence.mu.Unlock()
	}
	return resp, err
}

func (f *Fence) isLeaseWrite(req *http.Request) bool {
	p := req.URL.Path
	return (req.Method == http.MethodPut && p == f.leasePath) || (req.Method == http.MethodPost && p == f.leasesPath)
}

func readOnly(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// isEvent spares events: telling people what happened writes no shared state.
func isEvent(path string) bool {
	return strings.HasSuffix(path, "/events") || strings.Contains(path, "/events/")
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	defer c.cancel()
	return c.ReadCloser.Close()
}

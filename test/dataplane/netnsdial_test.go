package dataplane

// The agents run inside their nodes' network namespaces, as the DaemonSet runs them
// (hostNetwork), so the API server on the host's 127.0.0.1 is out of their reach, and
// so are their own /healthz and /metrics (127.0.0.1 inside the namespace) out of the
// test's. Rather than give each node a route to the host, the test opens sockets inside
// a namespace: a goroutine locks its OS thread, moves that thread into the namespace
// (setns) and creates the socket there; a socket stays in the namespace it was made in,
// whichever thread uses it later.
//
// The thread then moves back to the host's namespace before it is unlocked; only if
// that fails does the goroutine end still locked, so that Go ends the thread instead of
// handing a thread in the wrong namespace to other goroutines. Ending threads as a rule
// would be wrong here: the thread may be one that started an agent or keepalived
// earlier, and Pdeathsig fires when the thread that forked a child ends, not the
// process (it killed the agents at once).
//
// forwardIntoNetns gives a node its own 127.0.0.1:<port> that relays to the host's
// 127.0.0.1:<port> (the API server), so the agent's kubeconfig is the same everywhere
// and the API server's certificate (SAN 127.0.0.1) still matches.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hostNetns is this process's own network namespace: its main thread's, which the
// test never moves.
var hostNetns = sync.OnceValues(func() (*os.File, error) { return os.Open("/proc/self/ns/net") })

// inNetns runs fn on an OS thread inside network namespace ns (a name of ip netns).
func inNetns[T any](ns string, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var zero T
		host, err := hostNetns()
		if err != nil {
			ch <- result{zero, err}
			return
		}
		f, err := os.Open(filepath.Join("/var/run/netns", ns))
		if err != nil {
			ch <- result{zero, err}
			return
		}
		defer func() { _ = f.Close() }()
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // still in the host's namespace
			ch <- result{zero, fmt.Errorf("setns into %s: %w", ns, err)}
			return
		}
		v, err := fn()
		ch <- result{v, err}
		if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: stay locked, and the thread ends with this goroutine
	}()
	r := <-ch
	return r.v, r.err
}

// listenInNetns listens on addr (TCP) inside ns.
func listenInNetns(ns, addr string) (net.Listener, error) {
	return inNetns(ns, func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// dialInNetns connects to addr (TCP) from inside ns.
func dialInNetns(ctx context.Context, ns, addr string) (net.Conn, error) {
	return inNetns(ns, func() (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
}

// netnsHTTPClient is an HTTP client whose connections start inside ns: for the
// agent's /healthz and /metrics on 127.0.0.1 there.
func netnsHTTPClient(ns string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dialInNetns(ctx, ns, addr)
		},
		MaxIdleConnsPerHost: 2,
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// forwardIntoNetns listens on 127.0.0.1:port inside ns and relays every connection to
// 127.0.0.1:port of the host (this process's namespace) until t ends.
func forwardIntoNetns(t *testing.T, ns string, port int) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := listenInNetns(ns, addr)
	if err != nil {
		t.Fatalf("forwarder for %s in %s: %v", addr, ns, err)
	}
	f := &forwarder{ln: ln, target: addr, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
}

type forwarder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return // closed
		}
		f.wg.Add(1)
		go f.relay(in)
	}
}

// relay copies both ways between in and a new connection to the target.
func (f *forwarder) relay(in net.Conn) {
	defer f.wg.Done()
	out, err := net.DialTimeout("tcp", f.target, 5*time.Second) // a normal thread: the host's namespace
	if err != nil {
		_ = in.Close()
		return
	}
	if !f.track(in, out) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
	f.untrack(in, out)
}

func (f *forwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarder) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		delete(f.conns, c)
	}
}

// close stops accepting, cuts every relayed connection and waits for the relays.
func (f *forwarder) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

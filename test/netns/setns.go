package netns

// An agent runs inside its node's network namespace, as the DaemonSet runs it (host
// network), so the API server on the host's 127.0.0.1 is out of its reach, and so are
// its own /healthz and /metrics (127.0.0.1 inside the namespace) out of the host's.
// Rather than give each node a route to the host, this package opens sockets inside a
// namespace: a goroutine locks its OS thread, moves that thread into the namespace
// (setns) and creates the socket there; a socket stays in the namespace it was made
// in, whichever thread uses it later.
//
// The thread then moves back to the host's namespace before it is unlocked; only if
// that fails does the goroutine end still locked, so that Go ends the thread instead of
// handing a thread in the wrong namespace to other goroutines. Ending threads as a rule
// would be wrong here: the thread may be one that started an agent or keepalived
// earlier, and Pdeathsig (Command) fires when the thread that forked a child ends, not
// the process (it killed the agents at once).
//
// Forward gives a node its own 127.0.0.1:<port> that relays to the host's
// 127.0.0.1:<port> (the API server), so the agent's kubeconfig is the same everywhere
// and the API server's certificate (SAN 127.0.0.1) still matches.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// hostNetns is this process's own network namespace: its main thread's, which this
// package never moves.
var hostNetns = sync.OnceValues(func() (*os.File, error) { return os.Open("/proc/self/ns/net") })

// InNetns runs fn on an OS thread inside network namespace ns (a name of ip netns).
func InNetns[T any](ns string, fn func() (T, error)) (T, error) {
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
		f, err := os.Open(filepath.Join(netnsDir, ns))
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

// Listen listens on addr (TCP) inside ns.
func Listen(ns, addr string) (net.Listener, error) {
	return InNetns(ns, func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// Dial connects to addr (TCP) from inside ns.
func Dial(ctx context.Context, ns, addr string) (net.Conn, error) {
	return InNetns(ns, func() (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
}

// HTTPClient is an HTTP client whose connections start inside ns: for an agent's
// /healthz and /metrics on 127.0.0.1 there.
func HTTPClient(ns string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return Dial(ctx, ns, addr)
		},
		MaxIdleConnsPerHost: 2,
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

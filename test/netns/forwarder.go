package netns

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Forwarder relays every connection to 127.0.0.1:<port> inside a namespace to
// 127.0.0.1:<port> of the host (this process's namespace), until Close.
type Forwarder struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

// Forward listens on 127.0.0.1:port inside ns and relays to the host's 127.0.0.1:port.
func Forward(ns string, port int) (*Forwarder, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := Listen(ns, addr)
	if err != nil {
		return nil, fmt.Errorf("forwarder for %s in %s: %w", addr, ns, err)
	}
	f := &Forwarder{ln: ln, target: addr, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *Forwarder) serve() {
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
func (f *Forwarder) relay(in net.Conn) {
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

func (f *Forwarder) track(conns ...net.Conn) bool {
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

func (f *Forwarder) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		delete(f.conns, c)
	}
}

// Close stops accepting, cuts every relayed connection and waits for the relays.
func (f *Forwarder) Close() {
	_ = f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

package vrrpwatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2"
)

// vrrpGroup is the multicast group VRRP adverts are sent to.
var vrrpGroup = [4]byte{224, 0, 0, 18}

// Conn is a raw IPv4 socket that receives VRRP packets arriving on one interface.
type Conn struct {
	iface     string
	f         *os.File // non-blocking, so the runtime poller makes Close wake a blocked Read
	malformed atomic.Uint64
}

// Listen opens a raw IPv4 socket for protocol 112 bound to iface and joined to
// 224.0.0.18 on it, so that multicast adverts arrive even when the local keepalived
// speaks unicast. It needs CAP_NET_RAW. The socket belongs to the calling thread's
// network namespace. Run owns the socket from then on and closes it.
func Listen(iface string) (*Conn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("VRRP listener: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, protocolVRRP)
	if err != nil {
		return nil, fmt.Errorf("opening raw VRRP socket (needs CAP_NET_RAW): %w", err)
	}
	if err := joinGroup(fd, ifi); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return &Conn{iface: iface, f: os.NewFile(uintptr(fd), "vrrp@"+iface)}, nil
}

func joinGroup(fd int, ifi *net.Interface) error {
	if err := unix.BindToDevice(fd, ifi.Name); err != nil {
		return fmt.Errorf("binding VRRP socket to %s: %w", ifi.Name, err)
	}
	mreq := &unix.IPMreqn{Multiaddr: vrrpGroup, Ifindex: int32(ifi.Index)}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
		return fmt.Errorf("joining 224.0.0.18 on %s: %w", ifi.Name, err)
	}
	return nil
}

// Run calls fn for each advert received until ctx ends, then closes the socket.
// Packets that do not parse are counted (see Malformed) and skipped.
func (c *Conn) Run(ctx context.Context, fn func(Advert)) {
	logger := klog.FromContext(ctx).WithValues("interface", c.iface)
	// Closing through the runtime poller is race-free and wakes the blocked Read below;
	// a second Close is harmless.
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	defer c.close()
	buf := make([]byte, 1<<16)
	for {
		n, err := c.f.Read(buf)
		if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			logger.Error(err, "Reading VRRP packets; retrying")
			sleep(ctx, time.Second)
			continue
		}
		a, err := Parse(buf[:n])
		if err != nil {
			c.malformed.Add(1)
			logger.V(4).Info("Skipping malformed VRRP packet", "err", err)
			continue
		}
		fn(a)
	}
}

func (c *Conn) close() { _ = c.f.Close() }

// Malformed is the number of packets Run skipped because they did not parse.
func (c *Conn) Malformed() uint64 { return c.malformed.Load() }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

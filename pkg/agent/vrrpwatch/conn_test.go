package vrrpwatch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
	"github.com/munnerz/keepalived-cloud-provider/test/require"
)

// TestConnReceivesAdvert sends adverts across a veth pair between two network
// namespaces it creates, so that no packet leaves them.
func TestConnReceivesAdvert(t *testing.T) {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces, raw sockets)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip (iproute2)")
	}
	require.Prerequisites(t, "VRRP SOCKET TEST", missing, "make test installs iproute2 (hack/dataplane-prereqs.sh); run as root")
	pid := os.Getpid()
	nsA, nsB := fmt.Sprintf("vrrpwatch-%d-a", pid), fmt.Sprintf("vrrpwatch-%d-b", pid)
	vethA, vethB := fmt.Sprintf("vw%da", pid), fmt.Sprintf("vw%db", pid)
	addNetns(t, nsA)
	addNetns(t, nsB)
	ip(t, "link", "add", vethA, "netns", nsA, "type", "veth", "peer", "name", vethB, "netns", nsB)
	ip(t, "-n", nsA, "addr", "add", "192.0.2.1/24", "dev", vethA)
	ip(t, "-n", nsB, "addr", "add", "192.0.2.2/24", "dev", vethB)
	ip(t, "-n", nsA, "link", "set", vethA, "up")
	ip(t, "-n", nsB, "link", "set", vethB, "up")

	var c *Conn
	inNetns(t, nsA, func() (err error) { c, err = Listen(vethA); return err })
	got := make(chan Advert, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, func(a Advert) {
			select {
			case got <- a:
			default:
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	var sender int
	inNetns(t, nsB, func() (err error) { sender, err = multicastSender(vethB); return err })
	t.Cleanup(func() { _ = unix.Close(sender) })
	send(t, sender, vrrp(advert{typ: 2, vrid: 42})) // not an advertisement: counted, skipped
	want := Advert{Source: netip.MustParseAddr("192.0.2.2"), Version: 2, VRID: 42, Priority: 150, Addrs: addrs("10.0.0.1", "10.0.0.2")}
	a := sendUntilReceived(t, sender, vrrp(advert{vrid: 42, prio: 150, addrs: []string{"10.0.0.1", "10.0.0.2"}}), got)
	if !equalAdvert(a, want) {
		t.Errorf("Run delivered %+v, want %+v", a, want)
	}
	if n := c.Malformed(); n != 1 {
		t.Errorf("Malformed() = %d, want 1", n)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return within 3s of its context ending")
	}
}

func sendUntilReceived(t *testing.T, fd int, payload []byte, got <-chan Advert) Advert {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(5 * time.Second)
	for {
		send(t, fd, payload)
		select {
		case a := <-got:
			return a
		case <-tick.C:
		case <-timeout:
			t.Fatal("no advert received within 5s")
		}
	}
}

// multicastSender opens a raw VRRP socket that sends to 224.0.0.18 out of iface with
// TTL 255, the kernel writing the IP header.
func multicastSender(iface string) (int, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, protocolVRRP)
	if err != nil {
		return -1, err
	}
	mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("IP_MULTICAST_IF: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("IP_MULTICAST_TTL: %w", err)
	}
	return fd, nil
}

func send(t *testing.T, fd int, payload []byte) {
	t.Helper()
	if err := unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Addr: vrrpGroup}); err != nil {
		t.Fatalf("sending to 224.0.0.18: %v", err)
	}
}

// addNetns creates a named network namespace and removes it, with everything in it,
// when the test ends.
func addNetns(t *testing.T, name string) {
	t.Helper()
	ip(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// inNetns runs fn inside the named network namespace; sockets it creates stay there.
func inNetns(t *testing.T, name string, fn func() error) {
	t.Helper()
	if _, err := netns.InNetns(name, func() (struct{}, error) { return struct{}{}, fn() }); err != nil {
		t.Fatalf("in network namespace %s: %v", name, err)
	}
}

func TestListenUnknownInterface(t *testing.T) {
	if _, err := Listen("vrrpwatch-none"); err == nil {
		t.Fatal("Listen(unknown interface) succeeded, want an error")
	}
}

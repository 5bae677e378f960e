package keepalived

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// IPCommand runs iproute2's ip, possibly through a prefix (such as "ip -n node1") so that
// it acts in the network namespace keepalived runs in.
type IPCommand []string

func (c IPCommand) run(ctx context.Context, args ...string) (string, error) {
	argv := append(append([]string{}, c[1:]...), args...)
	out, err := exec.CommandContext(ctx, c[0], argv...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", c[0], strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// addresses lists the IPv4 and IPv6 addresses on iface.
func (c IPCommand) addresses(ctx context.Context, iface string) ([]netip.Prefix, error) {
	out, err := c.run(ctx, "-o", "addr", "show", "dev", iface)
	if err != nil {
		return nil, err
	}
	var prefixes []netip.Prefix
	for _, line := range strings.Split(out, "\n") {
		// "2: eth0    inet 10.0.0.5/24 brd ... scope global eth0\ ...", or inet6
		fields := strings.Fields(line)
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] == "inet" || fields[i] == "inet6" {
				if p, err := netip.ParsePrefix(fields[i+1]); err == nil {
					prefixes = append(prefixes, p)
				}
			}
		}
	}
	return prefixes, nil
}

// DefaultInterface is the interface of the IPv4 default route.
func (c IPCommand) DefaultInterface(ctx context.Context) (string, error) {
	out, err := c.run(ctx, "-o", "-4", "route", "show", "default")
	if err != nil {
		return "", err
	}
	fields := strings.Fields(out)
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "dev" {
			return fields[i+1], nil
		}
	}
	return "", fmt.Errorf("no IPv4 default route to take the interface from; set the interface explicitly")
}

// RemoveStale deletes from iface every /32 or /128 address in vips. keepalived removes its VIPs
// when it stops, but one that was killed leaves them behind, and the node would keep
// answering ARP for addresses a peer now holds. Call it only while keepalived is not
// running. It returns the addresses it removed.
func (c IPCommand) RemoveStale(ctx context.Context, iface string, vips map[netip.Addr]bool) ([]netip.Addr, error) {
	prefixes, err := c.addresses(ctx, iface)
	if err != nil {
		return nil, err
	}
	var removed []netip.Addr
	for _, p := range prefixes {
		if p.Bits() != p.Addr().BitLen() || !vips[p.Addr()] {
			continue
		}
		if _, err := c.run(ctx, "addr", "del", p.String(), "dev", iface); err != nil {
			return removed, err
		}
		removed = append(removed, p.Addr())
	}
	return removed, nil
}

package node

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The test's own networks: pods on a bridge (whose address the API server listens on),
// VIPs and VRRP on a veth pair in TEST-NET-2, the far end in a namespace of its own.
const (
	bridgeName = "kcpnode0"
	bridgeIP   = "10.250.0.1"
	bridgeMAC  = "02:6b:63:70:00:01" // locally administered
	podSubnet  = "10.250.0.0/24"
	vethName   = "kpv0"
	vethPeer   = "kpv1"
	peerNetns  = "kcpnode-peer"
	vipSubnet  = "198.51.100.0/24"
	vethAddr   = "198.51.100.1/24"
	peerAddr   = "198.51.100.2/24"
	// pool is what the provider hands out: inside the veth's subnet.
	pool      = "198.51.100.64/28"
	cniBinDir = "/usr/lib/cni"
)

// hostSysctls are the settings kubelet (the first six) and the CNI bridge (forwarding)
// may change; the tear-down puts back each one that changed.
var hostSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding",
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// checkHostFree refuses to run where a previous run (or another test) left the names,
// addresses or cgroups this test uses: it would tear down what is not its own.
func checkHostFree() error {
	var errs []error
	for _, link := range []string{bridgeName, vethName, vethPeer} {
		if _, err := os.Stat("/sys/class/net/" + link); err == nil {
			errs = append(errs, fmt.Errorf("interface %s exists (left by an earlier run, or another run is in progress)", link))
		}
	}
	if _, err := os.Stat("/run/netns/" + peerNetns); err == nil {
		errs = append(errs, fmt.Errorf("network namespace %s exists", peerNetns))
	}
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, "kubepods")); err == nil {
			errs = append(errs, fmt.Errorf("%s/kubepods exists: another kubelet runs here, or an earlier run left it", h))
		}
	}
	out, err := exec.Command("ip", "-o", "route", "show", "table", "all").Output()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("ip route show table all: %w", err))...)
	}
	ours := []netip.Prefix{netip.MustParsePrefix(podSubnet), netip.MustParsePrefix(vipSubnet)}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		dst := fields[0]
		if slices.Contains([]string{"local", "broadcast", "unicast", "multicast"}, dst) && len(fields) > 1 {
			dst = fields[1]
		}
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			if a, err2 := netip.ParseAddr(dst); err2 == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				continue // "default" and the like
			}
		}
		for _, o := range ours {
			if p.Bits() > 0 && p.Overlaps(o) {
				errs = append(errs, fmt.Errorf("this machine already routes %s (%q), which overlaps the test's %s", p, line, o))
			}
		}
	}
	return errors.Join(errs...)
}

// setUpNetwork makes the bridge (before the API server, which listens on it) and the
// veth pair, and registers their removal.
func setUpNetwork(td *teardown) error {
	td.add("delete "+bridgeName, func() error { return ipCmd("link", "del", bridgeName) })
	for _, args := range [][]string{
		// A fixed MAC: a bridge whose MAC is not set follows the lowest of its ports', so
		// that a pod going (its veth leaving) could change the gateway's MAC under the
		// other pods, whose packets would go to the old one until ARP caught up.
		{"link", "add", bridgeName, "address", bridgeMAC, "type", "bridge"},
		{"addr", "add", bridgeIP + "/24", "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	} {
		if err := ipCmd(args...); err != nil {
			return err
		}
	}
	// Deleting the namespace deletes kpv1 and with it kpv0.
	td.add("delete the veth pair and namespace "+peerNetns, func() error {
		err := ipCmd("netns", "del", peerNetns)
		for i := 0; i < 100 && linkExists(vethName); i++ {
			time.Sleep(20 * time.Millisecond) // the pair goes with the namespace, a moment later
		}
		if linkExists(vethName) {
			err = errors.Join(err, ipCmd("link", "del", vethName))
		}
		return err
	})
	for _, args := range [][]string{
		{"netns", "add", peerNetns},
		{"link", "add", vethName, "type", "veth", "peer", "name", vethPeer},
		{"link", "set", vethPeer, "netns", peerNetns},
		{"addr", "add", vethAddr, "dev", vethName},
		{"link", "set", vethName, "up"},
		{"-n", peerNetns, "addr", "add", peerAddr, "dev", vethPeer},
		{"-n", peerNetns, "link", "set", vethPeer, "up"},
		{"-n", peerNetns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			return err
		}
	}
	return nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// hostPaths are made outside the test's folder by what it runs, whatever their
// configuration says: kubelet's device-plugin socket folder and container log links
// (fixed paths in kubelet), the CNI library's result cache, the containerd shims'
// socket folder, and ip netns's folder (shared with other tests: only ever removed
// when empty).
var hostPaths = []string{"/var/lib/kubelet", "/var/log/containers", "/var/lib/cni", "/run/containerd", "/run/netns"}

// removeNewHostPaths registers the removal of what the run left in those of hostPaths
// that do not exist now: kubelet's socket, links into dir, then the empty folders,
// deepest first. Nothing else is removed, and nothing is unmounted there.
func removeNewHostPaths(td *teardown, dir string) {
	var absent []string
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			absent = append(absent, p)
		}
	}
	td.add(fmt.Sprintf("remove %v (made during the run)", absent), func() error {
		var errs []error
		for _, p := range absent {
			var dirs []string
			_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
				switch {
				case err != nil:
				case d.IsDir():
					dirs = append(dirs, path)
				case path == "/var/lib/kubelet/device-plugins/kubelet.sock",
					strings.HasPrefix(path, "/var/lib/cni/results/kcpnode-"):
					errs = append(errs, os.Remove(path))
				case d.Type()&os.ModeSymlink != 0:
					if target, err := os.Readlink(path); err == nil && strings.HasPrefix(target, dir+"/") {
						errs = append(errs, os.Remove(path))
					}
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := os.Remove(dirs[i]); err != nil && p != "/run/netns" {
					errs = append(errs, fmt.Errorf("%w (left in place)", err))
				}
			}
		}
		return errors.Join(errs...)
	})
}

// addresses lists the IPv4 addresses on an interface of this (the host's) namespace.
func addresses(dev string) ([]string, error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show", "dev", dev).Output()
	if err != nil {
		return nil, fmt.Errorf("ip addr show dev %s: %w", dev, err)
	}
	var addrs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if i := slices.Index(f, "inet"); i >= 0 && i+1 < len(f) {
			addrs = append(addrs, strings.SplitN(f[i+1], "/", 2)[0])
		}
	}
	return addrs, nil
}

func hasAddress(dev, ip string) (bool, error) {
	addrs, err := addresses(dev)
	return slices.Contains(addrs, ip), err
}

// saveSysctls records hostSysctls and registers putting back those that changed.
func saveSysctls(td *teardown) (map[string]string, error) {
	saved := map[string]string{}
	for _, k := range hostSysctls {
		v, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			continue // not on this kernel
		}
		saved[k] = strings.TrimSpace(string(v))
	}
	td.add("restore sysctls", func() error { _, err := restoreSysctls(saved); return err })
	return saved, nil
}

// restoreSysctls writes back every saved value that changed and names them.
func restoreSysctls(saved map[string]string) ([]string, error) {
	var changed []string
	var errs []error
	for _, k := range hostSysctls {
		want, ok := saved[k]
		if !ok {
			continue
		}
		v, err := os.ReadFile("/proc/sys/" + k)
		if err != nil || strings.TrimSpace(string(v)) == want {
			continue
		}
		changed = append(changed, fmt.Sprintf("%s %s→%s", strings.ReplaceAll(k, "/", "."), want, strings.TrimSpace(string(v))))
		if err := os.WriteFile("/proc/sys/"+k, []byte(want), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s=%s: %w", k, want, err))
		}
	}
	return changed, errors.Join(errs...)
}

// cgroupHierarchies lists the mount points of the cgroup file systems (v1 hierarchies,
// or the v2 unified one).
func cgroupHierarchies() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var dirs []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		fields := strings.Fields(s.Text())
		sep := slices.Index(fields, "-")
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fs := fields[sep+1]; fs == "cgroup" || fs == "cgroup2" {
			dirs = append(dirs, fields[4])
		}
	}
	return dirs
}

// removeCgroups kills what is left in the kubepods tree of every hierarchy (kubelet's
// cgroups; checkHostFree made sure none were there before) and removes the tree, deepest
// first.
func removeCgroups() error {
	var errs []error
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, "kubepods")
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		var pids []int
		for _, d := range dirs {
			pids = append(pids, cgroupPIDs(d)...)
		}
		if len(pids) > 0 {
			errs = append(errs, fmt.Errorf("processes %v were still in %s; killed", pids, root))
			errs = append(errs, killPIDs(pids))
		}
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

func cgroupPIDs(dir string) []int {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder unmounts every mount below dir, deepest (last mounted) first: the
// containers' root file systems, the pods' network namespaces and volumes.
func unmountUnder(dir string) error {
	var errs []error
	for range 3 { // mounts made shared by kubelet can reappear once
		mounts := mountsUnder(dir)
		if len(mounts) == 0 {
			return errors.Join(errs...)
		}
		for i := len(mounts) - 1; i >= 0; i-- {
			if err := syscall.Unmount(mounts[i], 0); err != nil {
				if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
					errs = append(errs, fmt.Errorf("umount %s: %w", mounts[i], err))
				}
			}
		}
	}
	if left := mountsUnder(dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %v", left))
	}
	return errors.Join(errs...)
}

func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 {
			mp := unescapeMount(fields[4])
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				mounts = append(mounts, mp)
			}
		}
	}
	return mounts
}

var octalEscape = regexp.MustCompile(`\\([0-7]{3})`)

// unescapeMount undoes mountinfo's octal escapes (a space is \040).
func unescapeMount(s string) string {
	return octalEscape.ReplaceAllStringFunc(s, func(m string) string {
		var c int
		_, _ = fmt.Sscanf(m[1:], "%o", &c)
		return string(rune(c))
	})
}

// firewallRules is every iptables and nftables rule of this machine, counters left out:
// the test must not add any.
func firewallRules() string {
	var b strings.Builder
	counters := regexp.MustCompile(`\[\d+:\d+\]|packets \d+ bytes \d+`)
	for _, cmd := range [][]string{{"iptables-save"}, {"ip6tables-save"}, {"iptables-legacy-save"}, {"ip6tables-legacy-save"}, {"nft", "list", "ruleset"}} {
		if _, err := exec.LookPath(cmd[0]); err != nil {
			continue
		}
		out, _ := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "#") {
				continue // "Generated by ... on <date>"
			}
			fmt.Fprintf(&b, "%s: %s\n", cmd[0], counters.ReplaceAllString(line, ""))
		}
	}
	return b.String()
}

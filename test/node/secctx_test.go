package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// wantProc is what the kernel must show for every process of a container.
type wantProc struct {
	uid, gid   int
	bounding   uint64 // CapBnd; CapPrm and CapEff are the same for root, empty otherwise
	effective  uint64
	noNewPrivs bool
	seccomp    int // 2: a filter (RuntimeDefault)
	readOnly   bool
	hostNet    bool
}

// expectedProc derives wantProc from a pod spec (as applied: the workload's template)
// and the image's user, failing for settings the test does not model.
func expectedProc(spec corev1.PodSpec, imageUser string) (wantProc, error) {
	if len(spec.Containers) != 1 {
		return wantProc{}, fmt.Errorf("want one container, the spec has %d", len(spec.Containers))
	}
	psc, sc := spec.SecurityContext, spec.Containers[0].SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	user, group, _ := strings.Cut(imageUser, ":")
	w := wantProc{uid: atoiOr(user, 0), gid: atoiOr(group, 0), hostNet: spec.HostNetwork}
	if v := firstSet(sc.RunAsUser, psc.RunAsUser); v != nil {
		w.uid = int(*v)
	}
	if v := firstSet(sc.RunAsGroup, psc.RunAsGroup); v != nil {
		w.gid = int(*v)
	}
	if ptr.Deref(firstSetBool(sc.RunAsNonRoot, psc.RunAsNonRoot), false) && w.uid == 0 {
		return w, fmt.Errorf("runAsNonRoot with uid 0: the pod could not start")
	}
	if ptr.Deref(sc.Privileged, false) {
		return w, fmt.Errorf("privileged: the test expects the capabilities the spec lists")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		return w, fmt.Errorf("the test expects capabilities drop [ALL] (and an explicit add list)")
	}
	for _, c := range sc.Capabilities.Add {
		bit, ok := capabilityBits[strings.TrimPrefix(string(c), "CAP_")]
		if !ok {
			return w, fmt.Errorf("unknown capability %s", c)
		}
		w.bounding |= 1 << bit
	}
	if w.uid == 0 {
		w.effective = w.bounding
	}
	w.noNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp != nil && seccomp.Type == corev1.SeccompProfileTypeRuntimeDefault {
		w.seccomp = 2
	}
	w.readOnly = ptr.Deref(sc.ReadOnlyRootFilesystem, false)
	return w, nil
}

func firstSet(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func firstSetBool(vs ...*bool) *bool {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

var capabilityBits = map[string]int{
	"CHOWN": unix.CAP_CHOWN, "DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH,
	"FOWNER": unix.CAP_FOWNER, "FSETID": unix.CAP_FSETID, "KILL": unix.CAP_KILL, "SETGID": unix.CAP_SETGID,
	"SETUID": unix.CAP_SETUID, "SETPCAP": unix.CAP_SETPCAP, "LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE,
	"NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE, "NET_BROADCAST": unix.CAP_NET_BROADCAST,
	"NET_ADMIN": unix.CAP_NET_ADMIN, "NET_RAW": unix.CAP_NET_RAW, "IPC_LOCK": unix.CAP_IPC_LOCK,
	"IPC_OWNER": unix.CAP_IPC_OWNER, "SYS_MODULE": unix.CAP_SYS_MODULE, "SYS_RAWIO": unix.CAP_SYS_RAWIO,
	"SYS_CHROOT": unix.CAP_SYS_CHROOT, "SYS_PTRACE": unix.CAP_SYS_PTRACE, "SYS_PACCT": unix.CAP_SYS_PACCT,
	"SYS_ADMIN": unix.CAP_SYS_ADMIN, "SYS_BOOT": unix.CAP_SYS_BOOT, "SYS_NICE": unix.CAP_SYS_NICE,
	"SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "SYS_TIME": unix.CAP_SYS_TIME, "SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG,
	"MKNOD": unix.CAP_MKNOD, "LEASE": unix.CAP_LEASE, "AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
	"AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "SETFCAP": unix.CAP_SETFCAP, "MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE,
	"MAC_ADMIN": unix.CAP_MAC_ADMIN, "SYSLOG": unix.CAP_SYSLOG, "WAKE_ALARM": unix.CAP_WAKE_ALARM,
	"BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "AUDIT_READ": unix.CAP_AUDIT_READ, "PERFMON": unix.CAP_PERFMON,
	"BPF": unix.CAP_BPF, "CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// gotProc is what /proc says of one process.
type gotProc struct {
	pid                               int
	comm                              string
	uids, gids                        []int
	inheritable, permitted, effective uint64
	bounding, ambient                 uint64
	noNewPrivs                        bool
	seccomp                           int
	readOnly, hostNet                 bool
}

func readProc(pid int) (gotProc, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	g := gotProc{pid: pid}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return g, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		hex := func() uint64 { n, _ := strconv.ParseUint(v, 16, 64); return n }
		switch k {
		case "Name":
			g.comm = v
		case "Uid", "Gid":
			var ids []int
			for _, f := range strings.Fields(v) {
				ids = append(ids, atoiOr(f, -1))
			}
			if k == "Uid" {
				g.uids = ids
			} else {
				g.gids = ids
			}
		case "CapInh":
			g.inheritable = hex()
		case "CapPrm":
			g.permitted = hex()
		case "CapEff":
			g.effective = hex()
		case "CapBnd":
			g.bounding = hex()
		case "CapAmb":
			g.ambient = hex()
		case "NoNewPrivs":
			g.noNewPrivs = v == "1"
		case "Seccomp":
			g.seccomp = atoiOr(v, -1)
		}
	}
	mountinfo, err := os.ReadFile(dir + "/mountinfo")
	if err != nil {
		return g, err
	}
	for _, line := range strings.Split(string(mountinfo), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			g.readOnly = slices.Contains(strings.Split(f[5], ","), "ro")
		}
	}
	netns, err := os.Readlink(dir + "/ns/net")
	if err != nil {
		return g, err
	}
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return g, err
	}
	g.hostNet = netns == own
	return g, nil
}

// differences lists where a process is not as wanted.
func (w wantProc) differences(g gotProc) []string {
	var d []string
	add := func(what string, want, got any) { d = append(d, fmt.Sprintf("%s: want %v, got %v", what, want, got)) }
	for _, id := range g.uids {
		if id != w.uid {
			add("uids (real, effective, saved, fs)", w.uid, g.uids)
			break
		}
	}
	for _, id := range g.gids {
		if id != w.gid {
			add("gids", w.gid, g.gids)
			break
		}
	}
	if g.bounding != w.bounding {
		add("CapBnd", fmt.Sprintf("%016x", w.bounding), fmt.Sprintf("%016x", g.bounding))
	}
	if g.effective != w.effective || g.permitted != w.effective {
		add("CapEff/CapPrm", fmt.Sprintf("%016x", w.effective), fmt.Sprintf("%016x/%016x", g.effective, g.permitted))
	}
	if g.inheritable != 0 || g.ambient != 0 {
		add("CapInh/CapAmb", "0/0", fmt.Sprintf("%016x/%016x", g.inheritable, g.ambient))
	}
	if g.noNewPrivs != w.noNewPrivs {
		add("NoNewPrivs", w.noNewPrivs, g.noNewPrivs)
	}
	if g.seccomp != w.seccomp {
		add("Seccomp mode", w.seccomp, g.seccomp)
	}
	if g.readOnly != w.readOnly {
		add("read-only root", w.readOnly, g.readOnly)
	}
	if g.hostNet != w.hostNet {
		add("host network namespace", w.hostNet, g.hostNet)
	}
	return d
}

// containerPIDs lists the processes in the container's cgroup (every hierarchy names it).
func containerPIDs(id string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err == nil && strings.Contains(string(cg), "/"+id) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// checkSecurityContexts: every process of the agent's and of the providers' containers
// runs with exactly the security context of the DaemonSet's and the Deployment's pod
// template, as the kernel shows it in /proc; the container status says Running and
// Ready with the image the manifests name.
func (cl *cluster) checkSecurityContexts(ctx context.Context, t *testing.T) {
	t.Helper()
	ds, err := cl.c.AppsV1().DaemonSets(systemNS).Get(ctx, agentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := cl.c.AppsV1().Deployments(systemNS).Get(ctx, providerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name, dockerfile string
		spec             corev1.PodSpec
	}{
		{agentName, "Dockerfile.agent", ds.Spec.Template.Spec},
		{providerName, "Dockerfile", d.Spec.Template.Spec},
	} {
		img, err := dockerfileSpec(filepath.Join(cl.root, w.dockerfile))
		if err != nil {
			t.Fatal(err)
		}
		want, err := expectedProc(w.spec, img.User)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		pods, err := cl.pods(ctx, w.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			cl.checkPodProcesses(t, p, w.spec.Containers[0].Image, want)
		}
	}
}

func (cl *cluster) checkPodProcesses(t *testing.T, p corev1.Pod, image string, want wantProc) {
	t.Helper()
	if len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("pod %s: %d container statuses", p.Name, len(p.Status.ContainerStatuses))
	}
	cs := p.Status.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || cs.Image != image || cs.ImageID == "" {
		t.Errorf("pod %s: container status running=%v ready=%t image=%q (want %q) imageID=%q", p.Name, cs.State.Running != nil, cs.Ready, cs.Image, image, cs.ImageID)
	}
	id := strings.TrimPrefix(cs.ContainerID, "containerd://")
	pids, err := containerPIDs(id)
	if err != nil || len(pids) == 0 {
		t.Fatalf("pod %s: no processes in container %s (%v)", p.Name, id, err)
	}
	var names []string
	for _, pid := range pids {
		got, err := readProc(pid)
		if err != nil {
			continue // gone meanwhile
		}
		names = append(names, fmt.Sprintf("%s(%d)", got.comm, pid))
		if d := want.differences(got); len(d) > 0 {
			t.Errorf("pod %s, process %s (pid %d) is not as the spec says:\n  %s", p.Name, got.comm, pid, strings.Join(d, "\n  "))
		}
	}
	report("pod %s: %s; status Running, Ready, image %s; uid %d gid %d, CapBnd=CapEff %016x, NoNewPrivs %t, seccomp mode %d, read-only root %t, host network %t",
		p.Name, strings.Join(names, " "), cs.Image, want.uid, want.gid, want.bounding, want.noNewPrivs, want.seccomp, want.readOnly, want.hostNet)
}

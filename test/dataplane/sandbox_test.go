package dataplane

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/munnerz/keepalived-cloud-provider/test/netns"
)

// securityContext is what manifests/agent/daemonset.yaml grants the agent's container,
// turned into a bubblewrap sandbox: the test runs one node's agent (and so its
// keepalived) under exactly that, so the manifest's claim is tested, not assumed.
type securityContext struct {
	uid     int64
	caps    []string // e.g. NET_ADMIN, as in the manifest
	capMask uint64
	// configDir is where the state volume is mounted: the agent's --config-dir.
	configDir string
	// writable are the volume mounts: mountPath → hostPath (the node's state
	// directory) or "" (emptyDir: a tmpfs).
	writable                 map[string]string
	noNewPrivs, readOnlyRoot bool
}

// capBits are the capabilities a manifest may grant, by their Kubernetes names.
var capBits = map[string]int{
	"CHOWN": unix.CAP_CHOWN, "DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "FOWNER": unix.CAP_FOWNER,
	"KILL": unix.CAP_KILL, "SETGID": unix.CAP_SETGID, "SETUID": unix.CAP_SETUID, "SETPCAP": unix.CAP_SETPCAP,
	"NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE, "NET_BROADCAST": unix.CAP_NET_BROADCAST,
	"NET_ADMIN": unix.CAP_NET_ADMIN, "NET_RAW": unix.CAP_NET_RAW, "IPC_LOCK": unix.CAP_IPC_LOCK,
	"SYS_ADMIN": unix.CAP_SYS_ADMIN, "SYS_NICE": unix.CAP_SYS_NICE, "SYS_RESOURCE": unix.CAP_SYS_RESOURCE,
	"SYS_PTRACE": unix.CAP_SYS_PTRACE, "SYS_MODULE": unix.CAP_SYS_MODULE,
}

// readSecurityContext parses the DaemonSet's only container; stateDir is the node's
// directory that stands for the hostPath volume.
func readSecurityContext(t *testing.T, root, stateDir string) securityContext {
	t.Helper()
	path := filepath.Join(root, "manifests", "agent", "daemonset.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(data, &ds); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	pod := ds.Spec.Template.Spec
	if len(pod.Containers) != 1 || !pod.HostNetwork {
		t.Fatalf("%s: want one container on the host network, the test runs it so", path)
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.RunAsUser == nil || sc.Capabilities == nil {
		t.Fatalf("%s: the container has no runAsUser or capabilities", path)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Fatalf("%s: privileged; the sandbox cannot stand for that", path)
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Fatalf("%s: capabilities.drop = %v; the test expects [ALL] and grants only the add list", path, sc.Capabilities.Drop)
	}
	s := securityContext{uid: *sc.RunAsUser, writable: map[string]string{},
		noNewPrivs:   sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		readOnlyRoot: sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem}
	if !s.noNewPrivs {
		t.Fatalf("%s: allowPrivilegeEscalation is not false; bwrap always sets no_new_privs, so the sandbox cannot stand for that", path)
	}
	if s.uid != 0 {
		t.Fatalf("%s: runAsUser %d; the sandbox runs the agent as root only", path, s.uid)
	}
	for _, name := range sc.Capabilities.Add {
		bit, ok := capBits[string(name)]
		if !ok {
			t.Fatalf("%s: capability %s unknown to the test", path, name)
		}
		s.caps = append(s.caps, string(name))
		s.capMask |= 1 << bit
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v := volumes[m.Name]
		switch {
		case v.HostPath != nil && s.configDir == "":
			s.writable[m.MountPath], s.configDir = stateDir, m.MountPath
		case v.EmptyDir != nil:
			s.writable[m.MountPath] = ""
		default:
			t.Fatalf("%s: volume %s (%s) is neither the one hostPath (state) nor an emptyDir", path, m.Name, m.MountPath)
		}
	}
	if s.configDir == "" {
		t.Fatalf("%s: no hostPath volume for the agent's state", path)
	}
	return s
}

// wrap is the command that runs argv under s: bubblewrap builds the file system
// (read-only root, the volume mounts writable), sets no_new_privs and keeps the
// capabilities; setpriv then narrows the bounding set, which bwrap 0.8 leaves whole
// when run by root (it needs CAP_SETPCAP for that, which it then leaves out).
func (s securityContext) wrap(argv ...string) []string {
	root := "--bind"
	if s.readOnlyRoot {
		root = "--ro-bind"
	}
	w := []string{"bwrap", "--die-with-parent", root, "/", "/", "--dev", "/dev", "--proc", "/proc"}
	for _, mount := range slices.Sorted(maps.Keys(s.writable)) {
		host := s.writable[mount]
		if host == "" {
			w = append(w, "--tmpfs", mount)
			continue
		}
		parent := filepath.Dir(mount)
		if _, err := os.Stat(mount); err != nil && s.readOnlyRoot {
			// No mount point on the host's (read-only) root: an empty read-only
			// tmpfs for its parent holds one.
			w = append(w, "--tmpfs", parent, "--bind", host, mount, "--remount-ro", parent)
		} else {
			w = append(w, "--bind", host, mount)
		}
	}
	w = append(w, "--uid", strconv.FormatInt(s.uid, 10), "--cap-drop", "ALL", "--cap-add", "CAP_SETPCAP")
	var bounding []string
	for _, c := range s.caps {
		w = append(w, "--cap-add", "CAP_"+c)
		bounding = append(bounding, "+"+strings.ToLower(c))
	}
	w = append(w, "--", "setpriv", "--bounding-set=-all,"+strings.Join(bounding, ","), "--inh-caps=-all", "--ambient-caps=-all", "--")
	return append(w, argv...)
}

// procStatus is a few lines of /proc/<pid>/status.
type procStatus struct {
	capEff, capBnd uint64
	noNewPrivs     string
	uid            []string
}

func readProcStatus(pid int) (procStatus, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	var st procStatus
	for _, line := range strings.Split(string(data), "\n") {
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch key {
		case "CapEff":
			st.capEff, _ = strconv.ParseUint(value, 16, 64)
		case "CapBnd":
			st.capBnd, _ = strconv.ParseUint(value, 16, 64)
		case "NoNewPrivs":
			st.noNewPrivs = value
		case "Uid":
			st.uid = strings.Fields(value)
		}
	}
	return st, nil
}

// check asserts that pid runs with exactly what s grants.
func (s securityContext) check(t *testing.T, what string, pid int) {
	t.Helper()
	st, err := readProcStatus(pid)
	if err != nil {
		t.Errorf("%s (pid %d): %v", what, pid, err)
		return
	}
	uid := strconv.FormatInt(s.uid, 10)
	if st.capEff != s.capMask || st.capBnd != s.capMask || st.noNewPrivs != "1" || !slices.Equal(st.uid, []string{uid, uid, uid, uid}) {
		t.Errorf("%s (pid %d): CapEff %016x CapBnd %016x NoNewPrivs %s Uid %v; want CapEff = CapBnd = %016x (%v), NoNewPrivs 1, Uid %s",
			what, pid, st.capEff, st.capBnd, st.noNewPrivs, st.uid, s.capMask, s.caps, uid)
	}
	if s.readOnlyRoot {
		if opts, err := mountOptions(pid, "/"); err != nil || !slices.Contains(opts, "ro") {
			t.Errorf("%s (pid %d): / mounted with %v (%v); want ro", what, pid, opts, err)
		}
	}
}

// mountOptions are the per-mount options of the last mount on mountPoint in pid's view.
func mountOptions(pid int, mountPoint string) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return nil, err
	}
	var opts []string
	for _, line := range strings.Split(string(data), "\n") {
		// id parent major:minor root mount-point options ...
		if f := strings.Fields(line); len(f) > 5 && f[4] == mountPoint {
			opts = strings.Split(f[5], ",")
		}
	}
	if opts == nil {
		return nil, fmt.Errorf("no mount on %s", mountPoint)
	}
	return opts, nil
}

// checkFileSystem runs a shell in the same sandbox (in ns): writing to the root file
// system must fail, writing to each volume mount must work.
func (s securityContext) checkFileSystem(t *testing.T, ns string) {
	t.Helper()
	script := `touch /dataplane-probe 2>&1 && { echo "root file system writable"; rm -f /dataplane-probe; exit 1; }`
	for _, mount := range slices.Sorted(maps.Keys(s.writable)) {
		probe := filepath.Join(mount, ".dataplane-probe")
		script += fmt.Sprintf(` ; touch %[1]s || exit 2; rm -f %[1]s`, probe)
	}
	out, err := netns.Command(ns, s.wrap("sh", "-c", script)...).CombinedOutput()
	if err != nil {
		t.Errorf("in the agent's sandbox, %q: %v\n%s", script, err, out)
		return
	}
	if !strings.Contains(string(out), "Read-only file system") {
		t.Errorf("in the agent's sandbox, writing to / failed, but not as a read-only file system: %s", out)
	}
}

// checkSecurityContext checks the sandboxed node's agent and both its keepalived
// processes against the DaemonSet's security context, and its file system.
func (cl *cluster) checkSecurityContext(t *testing.T) {
	t.Helper()
	a := cl.agents[sandboxedNode]
	sc := a.sandbox
	sc.check(t, sandboxedNode+"'s agent", a.pid)
	parent, child, err := a.keepalivedPIDs()
	if err != nil {
		t.Fatalf("%s's keepalived: %v", sandboxedNode, err)
	}
	if ppid := parentPID(parent); ppid != a.pid {
		t.Errorf("%s's keepalived (pid %d) has parent %d; want the sandboxed agent, %d", sandboxedNode, parent, ppid, a.pid)
	}
	sc.check(t, sandboxedNode+"'s keepalived", parent)
	sc.check(t, sandboxedNode+"'s keepalived VRRP child", child)
	sc.checkFileSystem(t, a.node.NS)
	report(t, "%s's agent and keepalived (parent, VRRP child) run as uid %d with CapEff = CapBnd = %#x (%v), NoNewPrivs 1, / read-only; writable only %v",
		sandboxedNode, sc.uid, sc.capMask, sc.caps, slices.Sorted(maps.Keys(sc.writable)))
}

func parentPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// errorLine is a log line that reports an error: klog's E and F severities, a Go panic
// or fatal error, or a logfmt/JSON error level.
var errorLine = regexp.MustCompile(`^[EF]\d{4} \d\d:\d\d:\d\d|^panic: |^fatal error: |level=error|"level":"error"`)

// leaseContention matches the only error lines that are not faults: client-go's leader election
// logs at error level when two replicas race for our Lease (both saw none and created it,
// or both saw it free and updated it); the loser retries one retry period later. CI saw
// the create race once, when both replicas of a fresh install started together.
var leaseContention = regexp.MustCompile(`leaderelection\.go:\d+\] "(Error initially creating lease lock" err="leases\.coordination\.k8s\.io \\"keepalived-cloud-provider\\" already exists|Failed to update lease" err="Operation cannot be fulfilled on leases\.coordination\.k8s\.io \\"keepalived-cloud-provider\\": the object has been modified)`)

// faulty tells whether a log line reports a fault.
func faulty(line string) bool {
	return errorLine.MatchString(line) && !leaseContention.MatchString(line)
}

// podLogs keeps `kubectl logs` of each pod: of pods that are about to go, followed from
// before they are deleted to the end of their container (shutdown included).
type podLogs struct {
	cl       *cluster
	mu       sync.Mutex
	followed map[string]*followedLog
}

type followedLog struct {
	out  bytes.Buffer
	done chan struct{}
}

func newPodLogs(cl *cluster) *podLogs { return &podLogs{cl: cl, followed: map[string]*followedLog{}} }

// follow starts `kubectl logs -f` of the pod; it ends when the container does.
func (l *podLogs) follow(ctx context.Context, pod string) {
	f := &followedLog{done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, l.cl.cp.KubectlPath, "--kubeconfig="+l.cl.cp.AdminKubeconfig, "--cache-dir="+l.cl.kubectlCache(), "-n", systemNS, "logs", "-f", pod)
	cmd.Stdout, cmd.Stderr = &f.out, &f.out
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(&f.out, "kubectl logs -f %s: %v\n", pod, err)
		close(f.done)
	} else {
		go func() { _ = cmd.Wait(); close(f.done) }()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.followed[pod] = f
}

// tail is the end of the log of the (first) pod of a workload, for failure messages.
func (l *podLogs) tail(ctx context.Context, name string, n int) string {
	pods, err := l.cl.pods(ctx, name)
	if err != nil || len(pods) == 0 {
		return fmt.Sprintf("no %s pod (%v)", name, err)
	}
	out, _ := l.cl.kubectl(ctx, "-n", systemNS, "logs", "--tail", fmt.Sprint(n), pods[0].Name)
	return out
}

// all returns the logs of the followed pods (waiting for them to end) and of the pods
// there are now, by pod name.
func (l *podLogs) all(ctx context.Context) (map[string]string, error) {
	logs := map[string]string{}
	l.mu.Lock()
	for pod, f := range l.followed {
		select {
		case <-f.done:
		case <-time.After(30 * time.Second):
			fmt.Fprintf(&f.out, "\n(kubectl logs -f %s still running after 30 s)\n", pod)
		}
		logs[pod] = f.out.String()
		delete(l.followed, pod) // checked once
	}
	l.mu.Unlock()
	pods, err := l.cl.pods(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		out, err := l.cl.kubectl(ctx, "-n", systemNS, "logs", p.Name)
		if err != nil {
			return nil, err
		}
		logs[p.Name] = out
	}
	return logs, nil
}

// checkLogs: `kubectl logs` of every provider and agent pod of the run (those deleted
// included, up to their end) has no error line. The logs are kept in the log folder.
func (cl *cluster) checkLogs(ctx context.Context, t *testing.T) {
	t.Helper()
	logs, err := cl.logs.all(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	lines, errorLines, contention := 0, 0, 0
	for pod, text := range logs {
		names = append(names, pod)
		if err := os.WriteFile(filepath.Join(cl.logDir, "pod-"+pod+".log"), []byte(text), 0o644); err != nil {
			t.Error(err)
		}
		var bad []string
		for _, line := range strings.Split(text, "\n") {
			lines++
			if faulty(line) {
				bad = append(bad, line)
			} else if errorLine.MatchString(line) {
				contention++
			}
		}
		errorLines += len(bad)
		if len(bad) > 0 {
			t.Errorf("kubectl logs %s: %d error lines:\n%s", pod, len(bad), strings.Join(bad, "\n"))
		}
	}
	sort.Strings(names)
	report("kubectl logs of %d pods (%d lines, the deleted pods' up to their end): %d error lines, %d of two replicas racing for the Lease (not counted); %s", len(logs), lines, errorLines, contention, strings.Join(names, ", "))
}

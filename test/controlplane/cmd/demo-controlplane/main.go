// Command demo-controlplane runs the control plane of hack/demo.sh: etcd and kube-apiserver
// on 127.0.0.1 with the product's RBAC applied (test/controlplane). It writes into -dir:
//
//	admin.kubeconfig     a system:masters identity, for kubectl
//	provider.kubeconfig  the keepalived-cloud-provider ServiceAccount (a TokenRequest token)
//	provider.port        a free port on 127.0.0.1 for the provider's --secure-port
//	pids                 the process ids of etcd and kube-apiserver, for a supervisor to
//	                     clean up should this process be killed outright
//	controlplane.log     the output of etcd and kube-apiserver
//	ready                written last, once all of the above are usable
//
// and runs until SIGINT or SIGTERM (further signals are ignored while it stops), then stops etcd and kube-apiserver and removes its
// state (etcd data, certificates) and the files above except the log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo-controlplane:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}
	dir := flag.String("dir", filepath.Join(root, "_output", "demo"), "where to write kubeconfigs, logs and state")
	flag.Parse()

	// Stop on a signal from here on, also while starting.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	files := map[string]string{}
	for _, name := range []string{"admin.kubeconfig", "provider.kubeconfig", "provider.port", "pids", "ready"} {
		files[name] = filepath.Join(*dir, name)
	}
	state := filepath.Join(*dir, "state")
	// Leftovers of a demo that was killed outright belong to no running process.
	for _, path := range append([]string{state}, values(files)...) {
		if err := os.RemoveAll(path); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(*dir, "controlplane.log"))
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()

	// envtest also makes temporary directories of its own (webhook certificates): keep
	// them inside state too, so that even a killed demo leaves nothing outside _output/.
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	if err := os.Setenv("TMPDIR", state); err != nil {
		return err
	}

	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{Root: root, Dir: state, Log: log})
	if err != nil {
		return fmt.Errorf("starting the control plane (see %s): %w", log.Name(), err)
	}
	defer func() {
		fmt.Println("demo-controlplane: stopping etcd and kube-apiserver")
		var errs []error
		errs = append(errs, cp.Stop())
		for _, path := range files {
			errs = append(errs, os.RemoveAll(path))
		}
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintln(os.Stderr, "demo-controlplane: cleaning up:", err)
		}
	}()

	ports, err := controlplane.FreePorts(1)
	if err != nil {
		return err
	}
	children, err := controlplane.ChildPIDs()
	if err != nil {
		return err
	}
	// kube-apiserver first: it does not stop while etcd is gone.
	slices.SortFunc(children, func(a, b int) int { return boolInt(isEtcd(a)) - boolInt(isEtcd(b)) })
	var pids strings.Builder
	for _, pid := range children {
		fmt.Fprintln(&pids, pid)
	}
	if err := errors.Join(
		os.WriteFile(files["pids"], []byte(pids.String()), 0o644),
		controlplane.WriteKubeconfig(files["admin.kubeconfig"], cp.Admin, "admin"),
		controlplane.WriteKubeconfig(files["provider.kubeconfig"], cp.ProviderConfig, controlplane.ServiceAccountName),
		os.WriteFile(files["provider.port"], []byte(strconv.Itoa(ports[0])+"\n"), 0o644),
	); err != nil {
		return err
	}
	if err := os.WriteFile(files["ready"], []byte(cp.Admin.Host+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("demo-controlplane: kube-apiserver %s ready in %s (RBAC from manifests/ applied)\n",
		cp.Admin.Host, time.Since(start).Round(100*time.Millisecond))
	fmt.Printf("demo-controlplane: admin kubeconfig:    %s\n", files["admin.kubeconfig"])
	fmt.Printf("demo-controlplane: provider kubeconfig: %s (ServiceAccount kube-system/%s)\n",
		files["provider.kubeconfig"], controlplane.ServiceAccountName)

	<-ctx.Done() // signals stay caught until the deferred cleanup has run
	return nil
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func isEtcd(pid int) bool {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(comm)) == "etcd"
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Command bench measures keepalived-cloud-provider against a real kube-apiserver + etcd
// (test/controlplane), running the real binary under the manifests' RBAC. For each N it
// prints the floor (the API server alone taking the same creates, finalizer and status
// patches, or deletes and finalizer removals), the provider's wall time to all addressed
// or all gone, p50/p99 per Service, API writes per Service by the provider (from the API
// server's metrics, Events excluded) and ConfigMap writes per Service; then a backlog
// drain (the Services exist before the provider starts) and a large backlog with the
// provider's CPU seconds, peak RSS, ConfigMap bytes and time from start to first decision.
//
// Run it with `make bench-apiserver` (or go run ./test/bench -h for the knobs).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

var (
	verbose      = flag.Bool("v", false, "print the API server's writes by verb and resource for each phase")
	providerArgs = flag.String("provider-args", "", "extra flags for the provider, space separated (the shipped defaults otherwise)")
)

func main() {
	sizes := flag.String("n", "1000,3000", "burst sizes, comma separated")
	backlog := flag.Int("backlog", 10000, "size of the large backlog (0: skip)")
	workers := flag.Int("workers", 50, "parallel API clients creating and deleting Services")
	rounds := flag.Int("rounds", 1, "repeat each measurement this many times (medians are printed)")
	flag.Parse()
	ns, err := parseSizes(*sizes)
	if err == nil {
		err = run(ns, *backlog, *workers, *rounds)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(sizes []int, backlog, workers, rounds int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}
	out := filepath.Join(root, "_output", "bench")
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := controlplane.EnsureBinaries(ctx, root, os.Stderr); err != nil {
		return err
	}
	binary := filepath.Join(root, "bin", "bench", "keepalived-cloud-provider")
	if err := controlplane.BuildProvider(ctx, root, binary, "v0.0.0-bench"); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(out, "controlplane.log"))
	if err != nil {
		return err
	}
	defer func() { _ = log.Close() }()
	cp, err := controlplane.Start(ctx, controlplane.Options{Root: root, Log: log})
	if err != nil {
		return fmt.Errorf("starting the control plane (see %s): %w", log.Name(), err)
	}
	defer func() { _ = cp.Stop() }()
	b, err := newBench(ctx, cp, binary, out, workers)
	if err != nil {
		return err
	}
	defer b.stopProvider()
	fmt.Printf("bench: kube-apiserver + etcd on %s; %d parallel clients; provider logs in %s\n\n", cp.Admin.Host, workers, out)
	for _, n := range sizes {
		var results []result
		for r := 0; r < rounds; r++ {
			res, err := b.measure(n)
			if err != nil {
				return err
			}
			results = append(results, res)
		}
		median(results).print(n, rounds)
	}
	if backlog > 0 {
		res, err := b.largeBacklog(backlog)
		if err != nil {
			return err
		}
		res.print(backlog)
	}
	return nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-n %q: want positive numbers, comma separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// seconds formats a duration for the report.
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

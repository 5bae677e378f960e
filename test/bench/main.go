// Command bench measures keepalived-cloud-provider against a real kube-apiserver + etcd
// (test/controlplane), running the real binary under the manifests' RBAC. For each N it
// measures, in the same run, three things: the floor (the API server alone taking the
// same creates, finalizer and status patches, or deletes and finalizer removals); the
// null provider (test/bench/nullprovider: the upstream controller manager with our
// defaults and a provider that only counts, the ceiling for any provider); and ours.
// It prints their wall times to all addressed or all gone, p50/p99 per Service, CPU,
// API writes, ConfigMap writes and ConfigMap bytes per Service, a backlog drain (the
// Services exist before the provider starts), and ours as ratios to the null provider
// and to the floor; then a large backlog with our CPU seconds, peak RSS, ConfigMap
// size and time from start to first decision.
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

// knobs are what the command line sets.
type knobs struct {
	sizes                    []int
	backlog, workers, rounds int
	verbose                  bool
	providerArgs             []string // for both providers
}

func main() {
	sizes := flag.String("n", "1000,3000", "burst sizes, comma separated")
	backlog := flag.Int("backlog", 10000, "size of the large backlog (0: skip)")
	workers := flag.Int("workers", 50, "parallel API clients creating and deleting Services")
	rounds := flag.Int("rounds", 1, "repeat each measurement this many times (medians are printed)")
	verbose := flag.Bool("v", false, "print the API server's writes by verb and resource for each phase")
	args := flag.String("provider-args", "", "extra flags for both providers, ours and the null one, space separated (the shipped defaults otherwise)")
	flag.Parse()
	k := knobs{backlog: *backlog, workers: *workers, rounds: *rounds, verbose: *verbose, providerArgs: strings.Fields(*args)}
	var err error
	if k.sizes, err = parseSizes(*sizes); err == nil {
		err = run(k)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(k knobs) error {
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
	ours, null, err := buildSubjects(ctx, root)
	if err != nil {
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
	b, err := newBench(ctx, cp, ours, null, out, k)
	if err != nil {
		return err
	}
	defer b.stopProvider()
	fmt.Printf("bench: kube-apiserver + etcd on %s; %d parallel clients; provider logs in %s\n\n", cp.Admin.Host, k.workers, out)
	return b.report(k)
}

// report measures and prints every size, then the large backlog.
func (b *bench) report(k knobs) error {
	for _, n := range k.sizes {
		var results []result
		for r := 0; r < k.rounds; r++ {
			res, err := b.measure(n)
			if err != nil {
				return err
			}
			results = append(results, res)
		}
		median(results).print(n, k.rounds)
	}
	if k.backlog <= 0 {
		return nil
	}
	res, err := b.largeBacklog(k.backlog)
	if err == nil {
		res.print(k.backlog)
	}
	return err
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

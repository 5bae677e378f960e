package node

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// active is the tear-down of the node running now, for an interrupted run.
var active atomic.Pointer[teardown]

func TestMain(m *testing.M) {
	flag.Parse()
	stopOnSignal()
	stopBeforeTimeout()
	os.Exit(m.Run())
}

// teardown runs its steps once, last added first; each step runs even if one before
// it failed, so that a failed run cleans up as a passing one does.
type teardown struct {
	mu    sync.Mutex
	steps []step
	done  bool
}

type step struct {
	name string
	fn   func() error
}

func (td *teardown) add(name string, fn func() error) {
	td.mu.Lock()
	defer td.mu.Unlock()
	td.steps = append(td.steps, step{name, fn})
}

// run returns the errors of the steps that failed, each naming its step.
func (td *teardown) run() error {
	td.mu.Lock()
	defer td.mu.Unlock()
	if td.done {
		return nil
	}
	td.done = true
	var errs []error
	for i := len(td.steps) - 1; i >= 0; i-- {
		s := td.steps[i]
		if err := s.fn(); err != nil {
			errs = append(errs, fmt.Errorf("tear-down: %s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

func runActive(why string) {
	if td := active.Load(); td != nil {
		fmt.Fprintf(os.Stderr, "node: %s: tearing the node down\n", why)
		if err := td.run(); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
		}
	}
}

func stopOnSignal() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		runActive(sig.String())
		os.Exit(2)
	}()
}

// stopBeforeTimeout tears down shortly before go test's -timeout would kill the test
// binary (which runs no cleanup), after printing where each goroutine is.
func stopBeforeTimeout() {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return
	}
	timeout, _ := f.Value.(flag.Getter).Get().(time.Duration)
	if timeout <= 2*time.Minute {
		return
	}
	time.AfterFunc(timeout-90*time.Second, func() {
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		runActive(fmt.Sprintf("still running %s after the start, close to -timeout", timeout-90*time.Second))
		os.Exit(3)
	})
}

package e2e

import (
	"context"
	"strings"
	"time"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// Helpers for the tests of a pools file that is invalid when a provider starts or takes
// over (pools_invalid_*_test.go, pools_badfile_test.go).

const (
	// reasonPoolsFileInvalid is the Warning event on a Service left waiting because the
	// pools file does not validate.
	reasonPoolsFileInvalid = "PoolsFileInvalid"
	// resumeTimeout is how soon a waiting Service gets its address once the pools file is
	// valid again (the issue: "allocation resumes within 5 s").
	resumeTimeout = 5 * time.Second
)

// expectWaiting checks that the Service gets a PoolsFileInvalid event and no address,
// now and for d (longer than a retry of the service controller).
func (e *env) expectWaiting(step, name string, d time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	ev, err := controlplane.WaitForServiceEvent(ctx, e.c, e.ns, name, reasonPoolsFileInvalid)
	if err != nil {
		e.t.Errorf("%s: %v", step, err)
	} else {
		e.t.Logf("%s: %s got a %s %s event: %q", step, name, ev.Type, ev.Reason, ev.Message)
		if ev.Type != "Warning" {
			e.t.Errorf("%s: the %s event about %s is of type %s, want Warning", step, ev.Reason, name, ev.Type)
		}
	}
	deadline := time.Now().Add(d)
	for {
		if ip := e.getIP(name); ip != "" {
			e.t.Fatalf("%s: %s got %s while the pools file is invalid, want no address: nothing new is handed out "+
				"until the file is valid (usage %q)", step, name, ip, e.usage())
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// expectResumed waits for the Service's address after the pools file became valid again
// at valid: it must come within resumeTimeout. Should it come later, the test waits up to
// assignTimeout more to say how late it was.
func (e *env) expectResumed(step, name string, valid time.Time) string {
	e.t.Helper()
	ip := e.ipWithin(name, time.Until(valid.Add(resumeTimeout)))
	if ip != "" {
		e.t.Logf("%s: %s got %s %s after the pools file became valid again", step, name, ip, time.Since(valid).Round(10*time.Millisecond))
		return ip
	}
	ip = e.ipWithin(name, assignTimeout)
	evs, _ := eventsOf(e, name)
	if ip == "" {
		e.t.Fatalf("%s: %s has no address %s after the pools file became valid again, want one within %s; its events: %v",
			step, name, time.Since(valid).Round(100*time.Millisecond), resumeTimeout, describeEvents(evs))
	}
	e.t.Errorf("%s: %s got %s only %s after the pools file became valid again, want within %s; its events: %v",
		step, name, ip, time.Since(valid).Round(100*time.Millisecond), resumeTimeout, describeEvents(evs))
	return ip
}

// expectOneLogEntry waits until one entry of the provider's log (since mark) holds every
// text: the problems of a file reported together, in one message.
func (e *env) expectOneLogEntry(step string, mark logMark, timeout time.Duration, texts ...string) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range logEntries(e.logSince(mark)) {
			if containsEvery(line, texts) {
				e.t.Logf("%s: logged: %s", step, firstLine(line))
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Errorf("%s: no entry of the provider's log holds all of %q within %s; its output:\n%s", step, texts, timeout, e.logSince(mark))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

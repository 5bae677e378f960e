package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func rng(first, last string) Range { return Range{ip(first), ip(last)} }

// texts shows ranges as first-last, never as inferred CIDRs, for diffs.
func texts(rs []Range) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.First.String()+"-"+r.Last.String())
	}
	return out
}

func mustRanges(t testing.TB, spec string) []Range {
	t.Helper()
	rs, _, err := ParseRanges(spec)
	if err != nil {
		t.Fatalf("ParseRanges(%q): %v", spec, err)
	}
	return rs
}

func namedPool(t testing.TB, name, spec string) Pool {
	return Pool{Name: name, Ranges: mustRanges(t, spec)}
}

func avoiding(p Pool) Pool {
	p.AvoidBuggyIPs = true
	return p
}

// checkErr fails unless err contains every fragment and matches is (when set);
// no fragments and no is means no error is wanted.
func checkErr(t testing.TB, err error, is error, fragments ...string) {
	t.Helper()
	if len(fragments) == 0 && is == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error; want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q does not match %v", err, is)
	}
}

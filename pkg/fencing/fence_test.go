package fencing

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"

// server answers every request with status code for the lease, 200 otherwise, and
// counts the requests that reached it.
func server(t *testing.T, leaseCode int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if strings.HasPrefix(r.URL.Path, leases) {
			w.WriteHeader(leaseCode)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func send(t *testing.T, c *http.Client, method, url string) error {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	return err
}

func TestFence(t *testing.T) {
	const deadline = 200 * time.Millisecond
	cm := "/api/v1/namespaces/kube-system/configmaps/vip-configmap"
	tests := []struct {
		name      string
		leaseCode int           // the API server's answer to the renewal
		renew     bool          // the elector renews first
		wait      time.Duration // then this passes
		method    string
		path      string
		allowed   bool
	}{
		{name: "never led: writes refused", method: http.MethodPut, path: cm},
		{name: "never led: reads pass", method: http.MethodGet, path: cm, allowed: true},
		{name: "never led: events pass", method: http.MethodPost, path: "/api/v1/namespaces/default/events", allowed: true},
		{name: "renewed: writes pass", leaseCode: 200, renew: true, method: http.MethodPatch, path: "/api/v1/namespaces/default/services/x/status", allowed: true},
		{name: "renewal refused: writes refused", leaseCode: 409, renew: true, method: http.MethodPut, path: cm},
		{name: "renewal too old (paused): writes refused", leaseCode: 200, renew: true, wait: deadline, method: http.MethodPut, path: cm},
		{name: "renewal too old: reads pass", leaseCode: 200, renew: true, wait: deadline, method: http.MethodGet, path: cm, allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hits := server(t, tt.leaseCode)
			f := New("kube-system", "keepalived-cloud-provider", deadline)
			c := &http.Client{Transport: f.Wrap(http.DefaultTransport)}
			if tt.renew {
				if err := send(t, c, http.MethodPut, srv.URL+leases+"/keepalived-cloud-provider"); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(tt.wait)
			before := hits.Load()
			err := send(t, c, tt.method, srv.URL+tt.path)
			sent := hits.Load() > before
			if tt.allowed != (err == nil) || tt.allowed != sent {
				t.Fatalf("%s %s: err=%v, reached the server=%v; want allowed=%v", tt.method, tt.path, err, sent, tt.allowed)
			}
			if !tt.allowed && !errors.Is(err, ErrNotLeading) {
				t.Fatalf("refusal %v does not wrap ErrNotLeading", err)
			}
		})
	}
}

func TestFenceDeadlineFollowsRenewal(t *testing.T) {
	srv, _ := server(t, 200)
	f := New("kube-system", "l", time.Hour)
	c := &http.Client{Transport: f.Wrap(http.DefaultTransport)}
	before := time.Now()
	if err := send(t, c, http.MethodPost, srv.URL+leases); err != nil {
		t.Fatal(err)
	}
	deadline, err := f.Check()
	if err != nil {
		t.Fatal(err)
	}
	if deadline.Before(before.Add(time.Hour)) || deadline.After(time.Now().Add(time.Hour)) {
		t.Fatalf("deadline %s is not an hour after the renewal was sent", deadline)
	}
}

func TestNilFenceAllowsEverything(t *testing.T) {
	var f *Fence
	if deadline, err := f.Check(); err != nil || !deadline.IsZero() {
		t.Fatalf("nil fence: %v, %v", deadline, err)
	}
}

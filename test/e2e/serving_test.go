package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestHealthz: /healthz answers 200 "ok" on the secure port without credentials, while
// /metrics is refused to an anonymous caller and to a ServiceAccount without the right to
// it. Both refusals need delegated authentication and authorization to work, which
// depends on the auth-delegator and extension-apiserver-authentication-reader bindings.
func TestHealthz(t *testing.T) {
	e := newEnv(t, config{pool: "10.210.11.10-10.210.11.20"})
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The serving certificate is self-signed, in memory; this is a loopback check.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	get := func(path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", e.p.Port, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	if code, body := get("/healthz", ""); code != http.StatusOK || body != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\"", code, body)
	}
	if code, body := get("/metrics", ""); code != http.StatusForbidden {
		t.Errorf("anonymous GET /metrics = %d %q, want 403", code, body)
	}
	if code, body := get("/metrics", cp.ProviderConfig.BearerToken); code != http.StatusForbidden {
		t.Errorf("GET /metrics as the provider's ServiceAccount = %d %q, want 403 (authenticated, not authorized)", code, body)
	}
}

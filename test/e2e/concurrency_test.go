package e2e

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestConcurrentCreates: 30 Services created at once, synced in parallel (the default
// --concurrent-service-syncs), get 30 distinct pool addresses, and the ConfigMap holds
// exactly their 30 entries; deleting them all at once empties it again.
func TestConcurrentCreates(t *testing.T) {
	const n = 30
	const pool = "10.210.13.0/26"
	e := newEnv(t, config{pool: pool})
	ctx := context.Background()

	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%02d", i)
	}
	start := time.Now()
	parallel(t, names, func(name string) error {
		_, err := e.c.CoreV1().Services(e.ns).Create(ctx, newService(e.ns, name), metav1.CreateOptions{})
		return err
	})
	want := map[string]string{} // ConfigMap data
	holder := map[string]string{}
	for _, name := range names {
		ip := e.waitIP(name)
		e.assertInPool(name, ip)
		if other, taken := holder[ip]; taken {
			t.Errorf("%s and %s both got %s", other, name, ip)
		}
		holder[ip] = name
		want[ip] = e.key(name)
	}
	t.Logf("%d Services got addresses in %s", n, time.Since(start).Round(100*time.Millisecond))

	cm := e.waitConfigMap(fmt.Sprintf("%d entries", n), func(cm *corev1.ConfigMap) bool { return len(cm.Data) == n })
	if !maps.Equal(cm.Data, want) {
		t.Errorf("ConfigMap data = %v, want %v", cm.Data, want)
	}
	owned := ownedKeys(cm)
	if len(owned) != n {
		t.Errorf("%s lists %d keys, want %d: %v", annotationOwned, len(owned), n, owned)
	}
	for _, k := range owned {
		if _, ok := want[k]; !ok {
			t.Errorf("%s lists %s, which is no Service's address", annotationOwned, k)
		}
	}

	parallel(t, names, func(name string) error {
		return e.c.CoreV1().Services(e.ns).Delete(ctx, name, metav1.DeleteOptions{})
	})
	for _, name := range names {
		wctx, cancel := context.WithTimeout(ctx, assignTimeout)
		e.waitGone(wctx, name)
		cancel()
	}
	cm = e.waitConfigMap("no entries", func(cm *corev1.ConfigMap) bool { return len(cm.Data) == 0 })
	if owned := ownedKeys(cm); len(owned) != 0 {
		t.Errorf("%s = %v after every Service was deleted", annotationOwned, owned)
	}
}

// parallel runs f for every name at once and fails the test on any error.
func parallel(t *testing.T, names []string, f func(name string) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	for _, name := range names {
		wg.Go(func() {
			if err := f(name); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// Helpers to read, write and watch the test's ConfigMap.

// configMap returns the test's ConfigMap, or nil when it does not exist.
func (e *env) configMap() *corev1.ConfigMap { return e.configMapNamed(e.cm) }

// configMapNamed returns the ConfigMap name, or nil when it does not exist.
func (e *env) configMapNamed(name string) *corev1.ConfigMap {
	cm, err := e.c.CoreV1().ConfigMaps(configMapNamespace).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("getting ConfigMap %s: %v", name, err)
	}
	return cm
}

// waitConfigMap waits until the ConfigMap satisfies cond.
func (e *env) waitConfigMap(what string, cond func(*corev1.ConfigMap) bool) *corev1.ConfigMap {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), assignTimeout)
	defer cancel()
	cm, err := controlplane.WaitForConfigMap(ctx, e.c, configMapNamespace, e.cm, what, cond)
	if err != nil {
		e.t.Fatal(err)
	}
	return cm
}

// waitEntry waits until the ConfigMap maps ip to value and lists ip as the provider's.
func (e *env) waitEntry(ip, value string) *corev1.ConfigMap {
	e.t.Helper()
	return e.waitConfigMap(fmt.Sprintf("entry %q: %q owned by the provider", ip, value), func(cm *corev1.ConfigMap) bool {
		v, ok := cm.Data[ip]
		return ok && v == value && slices.Contains(ownedKeys(cm), ip)
	})
}

// waitNoEntry waits until the ConfigMap has no key ip, neither in data nor as owned.
func (e *env) waitNoEntry(ip string) *corev1.ConfigMap {
	e.t.Helper()
	return e.waitConfigMap(fmt.Sprintf("no entry %q", ip), func(cm *corev1.ConfigMap) bool {
		_, ok := cm.Data[ip]
		return !ok && !slices.Contains(ownedKeys(cm), ip)
	})
}

// putEntries writes entries into the ConfigMap as a person would (creating it if needed).
func (e *env) putEntries(entries map[string]string, annotations map[string]string) {
	e.t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := e.c.CoreV1().ConfigMaps(configMapNamespace).Get(ctx, e.cm, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: e.cm, Namespace: configMapNamespace}}
		} else if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		for k, v := range entries {
			cm.Data[k] = v
		}
		if len(annotations) > 0 && cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		for k, v := range annotations {
			cm.Annotations[k] = v
		}
		if cm.ResourceVersion == "" {
			_, err = e.c.CoreV1().ConfigMaps(configMapNamespace).Create(ctx, cm, metav1.CreateOptions{})
		} else {
			_, err = e.c.CoreV1().ConfigMaps(configMapNamespace).Update(ctx, cm, metav1.UpdateOptions{})
		}
		return err
	})
	if err != nil {
		e.t.Fatalf("writing entries into ConfigMap %s: %v", e.cm, err)
	}
}

// ownedKeys lists the keys the ownership annotation names.
func ownedKeys(cm *corev1.ConfigMap) []string {
	var keys []string
	for _, k := range strings.Split(cm.Annotations[annotationOwned], ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

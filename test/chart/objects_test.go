package chart

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// byID indexes objects by "Kind namespace/name"; a duplicate is a test failure.
func byID(t *testing.T, objs []runtime.Object) map[string]runtime.Object {
	t.Helper()
	out := map[string]runtime.Object{}
	for _, obj := range objs {
		id := objectID(obj)
		if _, dup := out[id]; dup {
			t.Fatalf("%s is rendered twice", id)
		}
		out[id] = obj
	}
	return out
}

func objectID(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(err)
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if m.GetNamespace() == "" {
		return kind + " " + m.GetName()
	}
	return fmt.Sprintf("%s %s/%s", kind, m.GetNamespace(), m.GetName())
}

func sortedKeys(m map[string]runtime.Object) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// quantities compare by value: resource.Quantity has unexported fields.
var quantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// view is what must agree between the chart and the manifests for one object: for
// workloads the whole spec (images, args, env, probes, security contexts, volumes,
// host network, ServiceAccount...), for RBAC the rules and bindings.
func view(t *testing.T, obj runtime.Object) any {
	t.Helper()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		spec := o.Spec.DeepCopy()
		sortEnv(&spec.Template.Spec)
		return spec
	case *appsv1.DaemonSet:
		spec := o.Spec.DeepCopy()
		sortEnv(&spec.Template.Spec)
		return spec
	case *policyv1.PodDisruptionBudget:
		return o.Spec
	case *corev1.ServiceAccount:
		return o.AutomountServiceAccountToken
	case *corev1.ConfigMap:
		return parsedData(t, o)
	case *rbacv1.ClusterRole:
		return o.Rules
	case *rbacv1.Role:
		return o.Rules
	case *rbacv1.ClusterRoleBinding:
		return []any{o.RoleRef, o.Subjects}
	case *rbacv1.RoleBinding:
		return []any{o.RoleRef, o.Subjects}
	}
	t.Fatalf("%s: no comparison for this kind; add one to view", objectID(obj))
	return nil
}

// sortEnv orders each container's env by name: the order has no meaning here (no $(VAR)
// references), and the chart renders its env maps in key order.
func sortEnv(spec *corev1.PodSpec) {
	for i := range spec.Containers {
		slices.SortFunc(spec.Containers[i].Env, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	}
}

// parsedData reads each ConfigMap value as YAML, so that the pools file compares by
// content, not by comments and layout.
func parsedData(t *testing.T, cm *corev1.ConfigMap) map[string]any {
	t.Helper()
	out := map[string]any{}
	for k, v := range cm.Data {
		var parsed any
		if err := yaml.Unmarshal([]byte(v), &parsed); err != nil {
			t.Fatalf("%s: data[%q] is not YAML: %v", objectID(cm), k, err)
		}
		out[k] = parsed
	}
	return out
}

// missingLabels lists the labels of want that got lacks or has with another value.
func missingLabels(want, got runtime.Object) []string {
	w, _ := meta.Accessor(want)
	g, _ := meta.Accessor(got)
	var missing []string
	for k, v := range w.GetLabels() {
		if g.GetLabels()[k] != v {
			missing = append(missing, k+"="+v)
		}
	}
	slices.Sort(missing)
	return missing
}

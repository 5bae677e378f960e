package trafficpolicy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLocal(t *testing.T) {
	for _, tc := range []struct {
		policy     corev1.ServiceExternalTrafficPolicy
		annotation string
		want       bool
	}{
		{corev1.ServiceExternalTrafficPolicyLocal, "", true},
		{corev1.ServiceExternalTrafficPolicyLocal, "false", true},
		{corev1.ServiceExternalTrafficPolicyLocal, "true", false},
		{corev1.ServiceExternalTrafficPolicyCluster, "", false},
		{"", "", false},
	} {
		svc := &corev1.Service{Spec: corev1.ServiceSpec{ExternalTrafficPolicy: tc.policy}}
		if tc.annotation != "" {
			svc.ObjectMeta = metav1.ObjectMeta{Annotations: map[string]string{AnnotationIgnore: tc.annotation}}
		}
		if got := Local(svc); got != tc.want {
			t.Errorf("policy %q, %s=%q: Local %v, want %v", tc.policy, AnnotationIgnore, tc.annotation, got, tc.want)
		}
	}
}

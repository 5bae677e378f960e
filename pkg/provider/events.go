package provider

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// eventSink records Warning events on Services without waiting for the API: the
// broadcaster queues them (and drops floods of the same one).
type eventSink struct {
	recorder record.EventRecorder
}

func newEventSink(ctx context.Context, client kubernetes.Interface) *eventSink {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return &eventSink{recorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "keepalived-cloud-provider"})}
}

// warn records a Warning event on the Service namespace/name.
func (s *eventSink) warn(namespace, name, reason, message string) {
	ref := &corev1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: namespace, Name: name}
	s.recorder.Event(ref, corev1.EventTypeWarning, reason, message)
}

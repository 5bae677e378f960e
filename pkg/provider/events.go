package provider

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
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

// warn records a Warning event on the Service.
func (s *eventSink) warn(svc *corev1.Service, reason, message string) {
	s.warnRef(serviceRef(svc.Namespace, svc.Name, svc.UID), reason, message)
}

// warnRef records a Warning event on the object ref.
func (s *eventSink) warnRef(ref *corev1.ObjectReference, reason, message string) {
	s.recorder.Event(ref, corev1.EventTypeWarning, reason, message)
}

// serviceRef names one Service object: the UID keeps an event about an old object
// off its successor of the same name.
func serviceRef(namespace, name string, uid types.UID) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: namespace, Name: name, UID: uid}
}

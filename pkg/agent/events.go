package agent

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// startEvents starts recording events (which node announces a Service's VIP, VRID
// collisions on the Node) and returns the function that flushes and stops it.
func (a *Agent) startEvents() func() {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
	a.events = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "keepalived-vip-agent", Host: a.cfg.NodeName})
	return b.Shutdown
}

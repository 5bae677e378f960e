package vipconfig

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// errLeaseRanOut is why a write's context ends at the deadline the Lease hook gave.
var errLeaseRanOut = errors.New("the leader lease ran out before the write was done")

// get reads the ConfigMap (nil: there is none) under a deadline of its own. A
// read needs no lease: it is never by itself a reason to write.
func (w *Writer) get(ctx context.Context) (*corev1.ConfigMap, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, callTimeout, slowAPI())
	defer cancel()
	cm, err := w.client.CoreV1().ConfigMaps(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading it: %w", because(ctx, err))
	}
	return cm, nil
}

// send writes cm, once the Lease hook allows it: an update of the version read
// before (compare-and-swap on its resourceVersion), or a create when the read
// found none.
func (w *Writer) send(ctx context.Context, cm *corev1.ConfigMap, exists bool) (*corev1.ConfigMap, error) {
	ctx, cancel, err := w.fenced(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("not sent: %w", context.Cause(ctx))
	}
	api := w.client.CoreV1().ConfigMaps(w.namespace)
	if !exists {
		written, err := api.Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating it: %w", because(ctx, err))
		}
		return written, nil
	}
	written, err := api.Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating it: %w", because(ctx, err))
	}
	return written, nil
}

// fenced asks the Lease hook whether this replica may write, and returns the
// write's context: the call's own deadline, or the lease's if that is sooner.
func (w *Writer) fenced(ctx context.Context) (context.Context, context.CancelFunc, error) {
	var until time.Time
	if w.hooks.Lease != nil {
		var err error
		if until, err = w.hooks.Lease(); err != nil {
			return nil, nil, fmt.Errorf("refused by the lease check: %w", err)
		}
	}
	ctx, cancelCall := context.WithTimeoutCause(ctx, callTimeout, slowAPI())
	if until.IsZero() {
		return ctx, cancelCall, nil
	}
	ctx, cancelLease := context.WithDeadlineCause(ctx, until, errLeaseRanOut)
	return ctx, func() { cancelLease(); cancelCall() }, nil
}

// slowAPI is why a call's context ends at its own deadline.
func slowAPI() error {
	return fmt.Errorf("the API server did not answer within %v", callTimeout)
}

// because adds to err why ctx ended, when it has: the client only says
// "context deadline exceeded".
func because(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("%w (%w)", err, context.Cause(ctx))
}

package vipconfig

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// writeBackoff retries a conflicting write for about two seconds before giving up;
// the caller's own retry (the service controller's) takes over after that.
var writeBackoff = wait.Backoff{Steps: 12, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.2}

// Store reads and writes one ConfigMap with optimistic concurrency. It remembers the last
// object it saw so an uncontended write costs one request. Not safe for concurrent use.
type Store struct {
	client          kubernetes.Interface
	namespace, name string
	last            *corev1.ConfigMap
}

// NewStore returns a Store for namespace/name.
func NewStore(client kubernetes.Interface, namespace, name string) *Store {
	return &Store{client: client, namespace: namespace, name: name}
}

// String names the ConfigMap for messages.
func (s *Store) String() string { return s.namespace + "/" + s.name }

// Read fetches the ConfigMap; a missing one reads as empty.
func (s *Store) Read(ctx context.Context) (Table, []string, error) {
	cm, err := s.get(ctx)
	if err != nil {
		return Table{}, nil, err
	}
	t, warnings := Parse(cm)
	return t, warnings, nil
}

// Apply writes change with compare-and-swap on resourceVersion, re-reading and retrying on
// conflict so no other writer's change is lost. It creates the ConfigMap when missing and
// returns the table as written.
func (s *Store) Apply(ctx context.Context, change Change) (Table, error) {
	var written Table
	err := retry.OnError(writeBackoff, isRace, func() error {
		cm, t, err := s.fresh(ctx, change)
		if err != nil {
			return err
		}
		if t.holds(change) {
			written = t // already there: the service controller re-syncs every Service at start
			return nil
		}
		next := s.newObject()
		if cm != nil {
			next = cm.DeepCopy()
		}
		if err := t.apply(next, change); err != nil {
			return err
		}
		if err := s.write(ctx, next, cm != nil); err != nil {
			s.last = nil
			return err
		}
		written = t
		return nil
	})
	if err != nil {
		return Table{}, fmt.Errorf("writing ConfigMap %s: %w", s, err)
	}
	return written, nil
}

// fresh returns the object to change: the last one seen, unless the change looks like a
// no-op against it, which only a fresh read can confirm (someone may have edited since).
func (s *Store) fresh(ctx context.Context, change Change) (*corev1.ConfigMap, Table, error) {
	if s.last != nil {
		if t, _ := Parse(s.last); !t.holds(change) {
			return s.last, t, nil
		}
	}
	cm, err := s.get(ctx)
	t, _ := Parse(cm)
	return cm, t, err
}

func (s *Store) get(ctx context.Context) (*corev1.ConfigMap, error) {
	cm, err := s.client.CoreV1().ConfigMaps(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s.last = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ConfigMap %s: %w", s, err)
	}
	s.last = cm
	return cm, nil
}

// write updates the ConfigMap read before (compare-and-swap on its resourceVersion) or
// creates it when the read found none.
func (s *Store) write(ctx context.Context, cm *corev1.ConfigMap, exists bool) error {
	var err error
	if !exists {
		cm, err = s.client.CoreV1().ConfigMaps(s.namespace).Create(ctx, cm, metav1.CreateOptions{})
	} else {
		cm, err = s.client.CoreV1().ConfigMaps(s.namespace).Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err == nil {
		s.last = cm
	}
	return err
}

func (s *Store) newObject() *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: s.name}}
}

// isRace reports errors that a fresh read fixes: a concurrent update, a concurrent
// create, or the ConfigMap deleted under us.
func isRace(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err)
}

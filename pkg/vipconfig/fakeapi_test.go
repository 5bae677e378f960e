package vipconfig

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"
)

var configMapsResource = corev1.SchemeGroupVersion.WithResource("configmaps")

// fakeAPI is client-go's fake made to behave like the API server where the writer
// depends on it: resourceVersion is set on every write and an update of any other
// version is a conflict. Through client() it also honours contexts as client-go
// does and lets a test fail or stall any call.
type fakeAPI struct {
	*fake.Clientset // used directly, it is "someone else": not recorded, never intercepted
	// store holds the ConfigMaps: a plain tracker, as the field-managed one of
	// NewClientset builds a REST mapper on every write (seconds under -race).
	store k8stesting.ObjectTracker

	mu        sync.Mutex
	rv        int
	intercept func(ctx context.Context, verb string) error // nil: serve every call
	calls     []apiCall
}

// apiCall is one call the writer made, with the deadline it carried.
type apiCall struct {
	verb     string
	deadline time.Time
}

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{Clientset: fake.NewClientset(), store: k8stesting.NewObjectTracker(scheme.Scheme, scheme.Codecs.UniversalDecoder())}
	f.PrependReactor("*", "configmaps", k8stesting.ObjectReaction(f.store))
	f.PrependReactor("create", "configmaps", f.create)
	f.PrependReactor("update", "configmaps", f.update)
	return f
}

func (f *fakeAPI) nextRV() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	return strconv.Itoa(f.rv)
}

func (f *fakeAPI) create(action k8stesting.Action) (bool, runtime.Object, error) {
	cm := action.(k8stesting.CreateAction).GetObject().(*corev1.ConfigMap).DeepCopy()
	if cm.ResourceVersion != "" {
		return true, nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	cm.ResourceVersion = f.nextRV()
	return true, cm, f.store.Create(configMapsResource, cm, cm.Namespace)
}

func (f *fakeAPI) update(action k8stesting.Action) (bool, runtime.Object, error) {
	cm := action.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap).DeepCopy()
	cur, err := f.store.Get(configMapsResource, cm.Namespace, cm.Name)
	if err != nil {
		return true, nil, err
	}
	if cur.(*corev1.ConfigMap).ResourceVersion != cm.ResourceVersion {
		return true, nil, apierrors.NewConflict(configMapsResource.GroupResource(), cm.Name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	cm.ResourceVersion = f.nextRV()
	return true, cm, f.store.Update(configMapsResource, cm, cm.Namespace)
}

// setIntercept replaces the interception of the writer's calls.
func (f *fakeAPI) setIntercept(fn func(ctx context.Context, verb string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intercept = fn
}

// enter records a call and decides its fate before it reaches the fake: a call
// whose context has ended is not sent, as in client-go.
func (f *fakeAPI) enter(ctx context.Context, verb string) error {
	deadline, _ := ctx.Deadline()
	f.mu.Lock()
	f.calls = append(f.calls, apiCall{verb: verb, deadline: deadline})
	intercept := f.intercept
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if intercept == nil {
		return nil
	}
	return intercept(ctx, verb)
}

// recorded returns the calls the writer made.
func (f *fakeAPI) recorded() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

// served counts the calls with verb that reached the fake.
func (f *fakeAPI) served(verb string) int {
	n := 0
	for _, a := range f.Actions() {
		if a.GetVerb() == verb && a.GetResource() == configMapsResource {
			n++
		}
	}
	return n
}

// client is what the writer gets.
func (f *fakeAPI) client() kubernetes.Interface { return ctxClientset{f.Clientset, f} }

type ctxClientset struct {
	*fake.Clientset
	f *fakeAPI
}

func (c ctxClientset) CoreV1() typedcorev1.CoreV1Interface {
	return ctxCoreV1{c.Clientset.CoreV1(), c.f}
}

type ctxCoreV1 struct {
	typedcorev1.CoreV1Interface
	f *fakeAPI
}

func (c ctxCoreV1) ConfigMaps(namespace string) typedcorev1.ConfigMapInterface {
	return ctxConfigMaps{c.CoreV1Interface.ConfigMaps(namespace), c.f}
}

type ctxConfigMaps struct {
	typedcorev1.ConfigMapInterface
	f *fakeAPI
}

func (c ctxConfigMaps) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error) {
	if err := c.f.enter(ctx, "get"); err != nil {
		return nil, err
	}
	return c.ConfigMapInterface.Get(ctx, name, opts)
}

func (c ctxConfigMaps) Create(ctx context.Context, cm *corev1.ConfigMap, opts metav1.CreateOptions) (*corev1.ConfigMap, error) {
	if err := c.f.enter(ctx, "create"); err != nil {
		return nil, err
	}
	return c.ConfigMapInterface.Create(ctx, cm, opts)
}

func (c ctxConfigMaps) Update(ctx context.Context, cm *corev1.ConfigMap, opts metav1.UpdateOptions) (*corev1.ConfigMap, error) {
	if err := c.f.enter(ctx, "update"); err != nil {
		return nil, err
	}
	return c.ConfigMapInterface.Update(ctx, cm, opts)
}

// stall makes calls with verb hang until their context ends, as a call to an API
// server that stopped answering does.
func stall(verb string) func(ctx context.Context, v string) error {
	return func(ctx context.Context, v string) error {
		if v != verb {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}
}

// failWith makes calls with verb fail with err.
func failWith(verb string, err error) func(ctx context.Context, v string) error {
	return func(_ context.Context, v string) error {
		if v == verb {
			return err
		}
		return nil
	}
}

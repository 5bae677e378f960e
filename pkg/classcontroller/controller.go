// Package classcontroller serves the Services of our spec.loadBalancerClass. The
// upstream service controller skips every Service with a class and has no hook to
// claim one, so this is the smallest controller that does what it does for ours:
// the same finalizer, the same calls into the provider, the same status patch and
// events. It runs in the same process, under the same leader election, and writes
// through the same fenced client.
package classcontroller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/api"
	servicehelper "k8s.io/cloud-provider/service/helpers"
	"k8s.io/klog/v2"
)

// Options are what the controller needs.
type Options struct {
	Class string // the spec.loadBalancerClass that is ours
	// ClassOnly: Services without a class are not the upstream controller's either
	// (it does not run), so a former Service of ours that lost its class with its
	// type change is cleaned up here.
	ClassOnly bool
	Workers   int
	Balancer  cloudprovider.LoadBalancer
	Client    kubernetes.Interface
	Services  coreinformers.ServiceInformer
	Recorder  record.EventRecorder
}

// Controller is a workqueue of Service keys over the shared Services informer.
type Controller struct {
	opts   Options
	lister corelisters.ServiceLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New registers the controller's handlers on the Services informer.
func New(opts Options) (*Controller, error) {
	c := &Controller{
		opts:   opts,
		lister: opts.Services.Lister(),
		synced: opts.Services.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "keepalived-class"}),
	}
	_, err := opts.Services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			if changed(old, cur) {
				c.enqueue(cur)
			}
		},
		// A deletion is handled when the deletion timestamp is set: the finalizer waits for it.
	})
	return c, err
}

// changed reports whether an update may need a sync: anything but a status change
// (our own status patches would otherwise come back as work) or a resync, which
// would re-ensure every Service, with its events, as the upstream controller
// does not either. A failed sync is retried by the queue.
func changed(old, cur any) bool {
	o, ok1 := old.(*corev1.Service)
	n, ok2 := cur.(*corev1.Service)
	if !ok1 || !ok2 {
		return true
	}
	return o.UID != n.UID || !o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
		!apiequality.Semantic.DeepEqual(o.Spec, n.Spec) ||
		!apiequality.Semantic.DeepEqual(o.Annotations, n.Annotations) ||
		!apiequality.Semantic.DeepEqual(o.Finalizers, n.Finalizers)
}

func (c *Controller) enqueue(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok || !c.mayConcern(svc) {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(svc)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// ours reports whether the Service is of our class.
func (c *Controller) ours(svc *corev1.Service) bool {
	return svc.Spec.LoadBalancerClass != nil && *svc.Spec.LoadBalancerClass == c.opts.Class
}

// mayConcern is the cheap filter of the queue: Services of our class, and in
// class-only mode classless ones that carry the finalizer but want no load
// balancer (sync asks the provider whether they were ours).
func (c *Controller) mayConcern(svc *corev1.Service) bool {
	return c.ours(svc) || (c.opts.ClassOnly && svc.Spec.LoadBalancerClass == nil && needsCleanup(svc))
}

// Run works the queue until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	klog.InfoS("Starting the load balancer class controller", "class", c.opts.Class, "classOnly", c.opts.ClassOnly, "workers", c.opts.Workers)
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	for range max(c.opts.Workers, 1) {
		go wait.UntilWithContext(ctx, c.work, time.Second)
	}
	<-ctx.Done()
}

func (c *Controller) work(ctx context.Context) {
	for c.next(ctx) {
	}
}

// next syncs one key; a failure comes back after the provider's retry delay, or
// with back-off.
func (c *Controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.sync(ctx, key)
	var retry *api.RetryError
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.As(err, &retry):
		klog.V(2).InfoS("Retrying load balancer of Service", "service", key, "after", retry.RetryAfter(), "err", err)
		c.queue.AddAfter(key, retry.RetryAfter())
	default:
		utilruntime.HandleError(fmt.Errorf("syncing load balancer of Service %s (retrying with back-off): %w", key, err))
		c.queue.AddRateLimited(key)
	}
	return true
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // cannot come from enqueue
	}
	svc, err := c.lister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // gone: it had no finalizer, so nothing of ours to clean up
	}
	if err != nil {
		return err
	}
	svc = svc.DeepCopy() // the cache is shared
	switch {
	case needsCleanup(svc) && c.mayConcern(svc):
		err = c.cleanup(ctx, svc)
	case c.ours(svc) && svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.DeletionTimestamp == nil:
		if err = c.ensure(ctx, svc); err != nil && c.superseded(svc) {
			return nil // deleted or changed while it synced: that change is queued, and this sync no longer matters
		}
	}
	if err != nil {
		c.opts.Recorder.Eventf(svc, corev1.EventTypeWarning, "SyncLoadBalancerFailed", "Error syncing load balancer: %v", err)
	}
	return err
}

// superseded reports whether the cache now shows the Service deleted, being
// deleted, re-created or no longer a LoadBalancer of our class.
func (c *Controller) superseded(svc *corev1.Service) bool {
	now, err := c.lister.Services(svc.Namespace).Get(svc.Name)
	if err != nil {
		return apierrors.IsNotFound(err)
	}
	return now.UID != svc.UID || now.DeletionTimestamp != nil || !c.ours(now) || now.Spec.Type != corev1.ServiceTypeLoadBalancer
}

// needsCleanup is the upstream controller's rule: the finalizer is on a Service
// that is being deleted or is no LoadBalancer any more.
func needsCleanup(svc *corev1.Service) bool {
	return servicehelper.HasLBFinalizer(svc) && (svc.DeletionTimestamp != nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer)
}

// ensure adds the finalizer before anything is handed out, has the provider
// decide, and patches the status with what it returns.
func (c *Controller) ensure(ctx context.Context, svc *corev1.Service) error {
	klog.V(2).InfoS("Ensuring load balancer", "service", klog.KObj(svc))
	c.opts.Recorder.Event(svc, corev1.EventTypeNormal, "EnsuringLoadBalancer", "Ensuring load balancer")
	if err := c.setFinalizer(ctx, svc, true); err != nil {
		return fmt.Errorf("failed to add load balancer cleanup finalizer: %w", err)
	}
	status, err := c.opts.Balancer.EnsureLoadBalancer(ctx, "", svc, nil)
	if err != nil {
		return fmt.Errorf("failed to ensure load balancer: %w", err)
	}
	c.opts.Recorder.Event(svc, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Ensured load balancer")
	return c.patchStatus(ctx, svc, status)
}

// cleanup has the provider free the addresses, then lets the Service go. A
// classless Service (class-only mode) for which the provider holds nothing was
// never ours: its finalizer is another controller's.
func (c *Controller) cleanup(ctx context.Context, svc *corev1.Service) error {
	_, exists, err := c.opts.Balancer.GetLoadBalancer(ctx, "", svc)
	if err != nil {
		return fmt.Errorf("failed to check if load balancer exists before cleanup: %w", err)
	}
	if !exists && !c.ours(svc) {
		return nil
	}
	if exists {
		klog.V(2).InfoS("Deleting load balancer", "service", klog.KObj(svc))
		c.opts.Recorder.Event(svc, corev1.EventTypeNormal, "DeletingLoadBalancer", "Deleting load balancer")
		if err := c.opts.Balancer.EnsureLoadBalancerDeleted(ctx, "", svc); err != nil {
			return fmt.Errorf("failed to delete load balancer: %w", err)
		}
	}
	if err := c.setFinalizer(ctx, svc, false); err != nil {
		return fmt.Errorf("failed to remove load balancer cleanup finalizer: %w", err)
	}
	c.opts.Recorder.Event(svc, corev1.EventTypeNormal, "DeletedLoadBalancer", "Deleted load balancer")
	if err := c.patchStatus(ctx, svc, &corev1.LoadBalancerStatus{}); err != nil && !apierrors.IsNotFound(err) {
		return err // not found: the Service went once the finalizer did
	}
	return nil
}

// setFinalizer adds or removes the cleanup finalizer, and updates svc to match.
func (c *Controller) setFinalizer(ctx context.Context, svc *corev1.Service, on bool) error {
	if servicehelper.HasLBFinalizer(svc) == on {
		return nil
	}
	updated := svc.DeepCopy()
	if on {
		updated.Finalizers = append(updated.Finalizers, servicehelper.LoadBalancerCleanupFinalizer)
	} else {
		updated.Finalizers = slices.DeleteFunc(updated.Finalizers, func(f string) bool { return f == servicehelper.LoadBalancerCleanupFinalizer })
	}
	return c.patch(ctx, svc, updated)
}

// patchStatus writes the load balancer status when it differs.
func (c *Controller) patchStatus(ctx context.Context, svc *corev1.Service, status *corev1.LoadBalancerStatus) error {
	if servicehelper.LoadBalancerStatusEqual(&svc.Status.LoadBalancer, status) {
		return nil
	}
	updated := svc.DeepCopy()
	updated.Status.LoadBalancer = *status
	if err := c.patch(ctx, svc, updated); err != nil {
		return fmt.Errorf("failed to update load balancer status: %w", err)
	}
	return nil
}

// patch sends the difference between svc and updated (metadata and status) and
// keeps svc current for the next step.
func (c *Controller) patch(ctx context.Context, svc, updated *corev1.Service) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	got, err := servicehelper.PatchService(c.opts.Client.CoreV1(), svc, updated)
	if err != nil {
		return err
	}
	got.DeepCopyInto(svc)
	return nil
}

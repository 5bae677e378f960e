package main

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/app/config"
	"k8s.io/cloud-provider/names"
	genericcontrollermanager "k8s.io/controller-manager/app"
	"k8s.io/controller-manager/controller"
	"k8s.io/klog/v2"

	"github.com/munnerz/keepalived-cloud-provider/pkg/classcontroller"
	"github.com/munnerz/keepalived-cloud-provider/pkg/provider"
)

// controllerConstructors are the upstream controllers, with the service controller
// joined by ours for the Services of our class: both start when service-lb-controller
// is enabled, under the same leader election. In class-only mode the upstream one does
// not start, so Services without a class are left to another implementation.
func controllerConstructors(cfg *provider.Config) map[string]app.ControllerInitFuncConstructor {
	constructors := maps.Clone(app.DefaultInitFuncConstructors)
	upstream := constructors[names.ServiceLBController]
	constructors[names.ServiceLBController] = app.ControllerInitFuncConstructor{
		InitContext: upstream.InitContext,
		Constructor: func(initContext app.ControllerInitContext, cc *config.CompletedConfig, cloud cloudprovider.Interface) app.InitFunc {
			startUpstream := upstream.Constructor(initContext, cc, cloud)
			return func(ctx context.Context, cctx genericcontrollermanager.ControllerContext) (controller.Interface, bool, error) {
				if cfg.ClassOnly {
					klog.InfoS("Class-only mode: the upstream service controller is not started; Services without a loadBalancerClass are left alone", "class", cfg.Class)
				} else if _, _, err := startUpstream(ctx, cctx); err != nil {
					return nil, false, err
				}
				return nil, true, startClassController(ctx, cfg, cc, cloud)
			}
		},
	}
	return constructors
}

// startClassController starts the controller of the Services of our class.
func startClassController(ctx context.Context, cfg *provider.Config, cc *config.CompletedConfig, cloud cloudprovider.Interface) error {
	balancer, _ := cloud.LoadBalancer()
	client := cc.ClientBuilder.ClientOrDie("keepalived-class-controller")
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(3)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	c, err := classcontroller.New(classcontroller.Options{
		Class:     cfg.Class,
		ClassOnly: cfg.ClassOnly,
		Workers:   int(cc.ComponentConfig.ServiceController.ConcurrentServiceSyncs),
		Balancer:  balancer,
		Client:    client,
		Services:  cc.SharedInformers.Core().V1().Services(),
		Recorder:  broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "keepalived-class-controller"}),
	})
	if err != nil {
		return err
	}
	go c.Run(ctx)
	return nil
}

package provider

import (
	"k8s.io/cloud-provider/names"
	"k8s.io/cloud-provider/options"
)

// ApplyDefaults makes the upstream command ours. Flags still override every value.
func ApplyDefaults(o *options.CloudControllerManagerOptions) {
	o.KubeCloudShared.CloudProvider.Name = ProviderName
	o.Generic.LeaderElection.ResourceName = "keepalived-cloud-provider"
	// Nodes, routes and zones belong to the machines; only Services are ours.
	o.Generic.Controllers = []string{names.ServiceLBController}
	// No webhooks: nothing to serve on a second port.
	o.Webhook = nil
	o.WebhookServing = nil
	// The upstream defaults (20 QPS, burst 30, one worker) cap any provider at about
	// 5 Services/s, as the service controller makes 4 requests per Service. Many workers
	// waiting on one ConfigMap write share it: more workers, fewer writes per Service.
	o.Generic.ClientConnection.QPS = -1 // no client-side limit: the API server's priority and fairness protects itself
	o.Generic.ClientConnection.Burst = 0
	o.ServiceController.ConcurrentServiceSyncs = 200
}

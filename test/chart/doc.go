// Package chart keeps charts/keepalived-cloud-provider and manifests/ from drifting
// apart. It renders the chart with the pinned helm (the Makefile's HELM_VERSION, installed
// once into bin/tools) and the kustomize bases with the control plane's kubectl, decodes both into
// typed objects and compares them; checks that values.schema.json and the chart's own
// checks refuse bad values, naming them; and applies the chart's output to a real
// kube-apiserver (test/controlplane) as a server-side dry run.
package chart

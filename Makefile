# keepalived-cloud-provider. `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# A semantic version is required by the binary: tags as they are, otherwise v0.0.0-<commit>.
GIT_DESCRIBE := $(shell git describe --tags --always --dirty 2>/dev/null)
VERSION ?= $(if $(GIT_DESCRIBE),$(shell echo '$(GIT_DESCRIBE)' | sed 's/^\([0-9a-f]\{7,\}\)/v0.0.0-\1/'),v0.0.0-dev)
GIT_COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE ?= ghcr.io/munnerz/keepalived-cloud-provider
GOLANGCI_LINT_VERSION := v2.15.0
# Helm stays out of go.mod (its k8s.io dependencies would fight ours): pinned here, run
# through go run by lint and by test/chart, installed at this version by the release workflow.
HELM_VERSION := v3.22.0
HELM := go run helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
ACTIONLINT_VERSION := v1.7.12
CHART := charts/keepalived-cloud-provider
LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(VERSION) -X k8s.io/component-base/version.gitCommit=$(GIT_COMMIT)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/keepalived-cloud-provider.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/keepalived-cloud-provider ./cmd/keepalived-cloud-provider
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/keepalived-vip-agent ./cmd/keepalived-vip-agent

.PHONY: controlplane
controlplane: ## Build kube-apiserver, kubectl and etcd into bin/controlplane (only when missing).
	./hack/controlplane.sh

.PHONY: test
test: controlplane ## Run unit and integration tests with -race (builds the local control plane and installs the data-plane tools first).
	./hack/dataplane-prereqs.sh
	./hack/node-prereqs.sh
	go vet ./...
	@# The packages under test/ start control planes, namespaces and a node, and time
	@# failovers: one at a time (-p 1), after the unit tests, so they never compete.
	go test -race -count=1 -timeout 30m $$(go list ./... | grep -v /test/) && \
	  go test -race -count=1 -timeout 30m -p 1 ./test/... ; status=$$?; ./hack/dataplane-prereqs.sh --check; ./hack/node-prereqs.sh --check; exit $$status

.PHONY: test-node
test-node: controlplane ## Run only the real-node test: the images and manifests as pods on containerd + kubelet (root; installs its packages first).
	./hack/node-prereqs.sh
	go test -race -count=1 -v -timeout 30m ./test/node/ ; status=$$?; ./hack/node-prereqs.sh --check; exit $$status

.PHONY: bench
bench: bench-micro bench-apiserver ## Run every benchmark: in-process figures, then against a real API server.

.PHONY: bench-micro
bench-micro: ## Allocator and ConfigMap rendering benchmarks (ns/op, B/op), 5 runs each.
	go test -run '^$$' -bench . -benchmem -count 5 ./pkg/ipam ./pkg/vipconfig

.PHONY: bench-apiserver
bench-apiserver: controlplane ## The provider against kube-apiserver + etcd: bursts of 1000 and 3000, backlogs (BENCH_ARGS to change).
	go run ./test/bench $(BENCH_ARGS)

.PHONY: fuzz
fuzz: ## Fuzz each parser, the allocator and the ledger for 30s each.
	go test -run '^$$' -fuzz '^FuzzParseRanges$$' -fuzztime 30s ./pkg/ipam
	go test -run '^$$' -fuzz '^FuzzAllocator$$' -fuzztime 30s ./pkg/ipam
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./pkg/poolconfig
	go test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime 30s ./pkg/vipconfig
	go test -run '^$$' -fuzz '^FuzzLedger$$' -fuzztime 30s ./pkg/ledger
	go test -run '^$$' -fuzz '^FuzzParseValue$$' -fuzztime 30s ./pkg/vipconfig
	go test -run '^$$' -fuzz '^FuzzAddresses$$' -fuzztime 30s ./pkg/nodes

.PHONY: lint
lint: ## Run golangci-lint, helm lint (with and without the agent) and actionlint (all pinned, through go run).
	go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run ./...
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --set agent.enabled=false
	go run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

.PHONY: chart
chart: ## Package the Helm chart into _output/charts (CHART_VERSION, APP_VERSION to override Chart.yaml's).
	$(HELM) package $(CHART) --destination _output/charts $(if $(CHART_VERSION),--version $(CHART_VERSION)) $(if $(APP_VERSION),--app-version $(APP_VERSION))

.PHONY: image
image: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) --build-arg GIT_COMMIT=$(GIT_COMMIT) -t $(IMAGE):$(VERSION) .

.PHONY: image-agent
image-agent: ## Build the node agent's image (Dockerfile.agent: Debian keepalived + keepalived-vip-agent).
	docker build -f Dockerfile.agent --build-arg VERSION=$(VERSION) --build-arg GIT_COMMIT=$(GIT_COMMIT) -t $(dir $(IMAGE))keepalived-vip-agent:$(VERSION) .

.PHONY: images
images: ## Build both images without Docker, as OCI archives in _output/images (root, debootstrap; see hack/images.sh).
	./hack/images.sh

.PHONY: demo
# Ctrl-C is how the demo ends: demo.sh cleans up and exits 130, and make, interrupted
# itself, still dies of SIGINT; accepting 130 only spares the misleading "Error 130".
demo: controlplane build ## Run the provider (and, as root, two node agents on network namespaces) against a throwaway local control plane.
	./hack/demo.sh || [ $$? -eq 130 ]

.PHONY: clean
clean: ## Remove build output (keeps the control plane binaries).
	rm -rf bin/keepalived-cloud-provider _output

# RELEASE_VERSION is the version config/ and the chart pin (file VERSION): the image
# tag of the installer and the chart's appVersion. A test checks that they agree.
RELEASE_VERSION := $(shell cat VERSION)
# Image URL to use for all building/pushing image targets.
IMG ?= ghcr.io/voipbin/credential-operator:$(RELEASE_VERSION)
# VERSION is stamped into the binary (User-Agent, --version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Setting SHELL to bash allows bash commands to be executed by recipes.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

GOBIN ?= $(shell go env GOPATH)/bin
CONTAINER_TOOL ?= docker

LDFLAGS := -s -w -X github.com/voipbin/credential-operator/internal/version.Version=$(VERSION)

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests from the markers, and copy them into the chart.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	hack/sync-chart.sh
	hack/argocd-cm.sh

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: verify-generated
verify-generated: manifests generate ## Fail if generated files differ from what is committed.
	@if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --quiet -- api config charts; then \
		echo "generated files are out of date; run 'make manifests generate' and commit:"; \
		git --no-pager diff --stat -- api config charts; exit 1; fi

.PHONY: envtest
envtest: ## Build the envtest control plane (kube-apiserver, etcd) from source if missing.
	@hack/envtest.sh >/dev/null

.PHONY: test
test: verify-generated fmt vet envtest kustomize helm kube-score promtool chart-lint ## Run every test (unit, fuzz seeds, envtest) with the race detector.
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" go test -race -count=1 -timeout 15m ./... -coverprofile cover.out

# UNIT_EXCLUDE matches the packages whose tests need a control plane (envtest)
# throughout: the binary end to end (test/e2e), the CRD's
# validation (api/v1alpha1) and the reconciler (internal/controller). test-unit
# leaves them to make test; elsewhere, a test that needs a control plane or
# builds the manager skips itself under -short (the demo, the short soak).
MODULE := github.com/voipbin/credential-operator
UNIT_EXCLUDE := ^$(MODULE)/(api/v1alpha1|internal/controller|test/e2e|test/install)(/|$$)

.PHONY: chart-lint
chart-lint: helm ## helm lint the chart (test/chart also compares it with config/ and scores it with kube-score).
	"$(HELM)" lint --strict charts/voipbin-credential-operator

.PHONY: test-unit
test-unit: fmt vet ## The fast loop (under a minute once compiled, no control plane): go test -short -race minus the envtest packages.
	go test -race -short -timeout 5m $$(go list ./... | grep -Ev '$(UNIT_EXCLUDE)')

.PHONY: test-e2e
test-e2e: envtest kustomize ## Run only the end-to-end tests of the built manager binary (test/e2e).
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" go test -count=1 -timeout 10m ./test/e2e/...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	"$(GOLANGCI_LINT)" run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and fix what it can.
	"$(GOLANGCI_LINT)" run --fix

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary (static, as in the image).
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/manager .

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the current kubeconfig.
	go run -ldflags "$(LDFLAGS)" . --leader-elect=false

.PHONY: docker-build
docker-build: ## Build the manager image.
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push the manager image.
	$(CONTAINER_TOOL) push ${IMG}

# PLATFORMS are the platforms docker-buildx builds the image for.
PLATFORMS ?= linux/amd64,linux/arm64

.PHONY: docker-buildx
docker-buildx: ## Build and push the manager image for PLATFORMS (linux/amd64, linux/arm64) with docker buildx.
	- $(CONTAINER_TOOL) buildx create --name voipbin-credential-operator-builder
	$(CONTAINER_TOOL) buildx use voipbin-credential-operator-builder
	- $(CONTAINER_TOOL) buildx build --push --platform=$(PLATFORMS) --build-arg VERSION=$(VERSION) --tag ${IMG} .
	- $(CONTAINER_TOOL) buildx rm voipbin-credential-operator-builder

.PHONY: build-installer
build-installer: manifests generate kustomize ## Write dist/install.yaml: namespace, CRD, RBAC, Deployment, PDB, NetworkPolicy and metrics Service (image IMG, by default the VERSION tag).
	KUSTOMIZE="$(KUSTOMIZE)" hack/build-installer.sh "$(IMG)" dist/install.yaml

# RELEASE_DIR is where make release writes the release's files.
RELEASE_DIR ?= dist
# IMAGE_REPOSITORY is the image without its tag; make release tags it VERSION.
IMAGE_REPOSITORY ?= ghcr.io/voipbin/credential-operator

.PHONY: release
release: manifests generate kustomize helm ## Write dist/ for VERSION=v<semver>: install.yaml (image tag VERSION), crds.yaml, the packaged chart, SHA256SUMS.
	KUSTOMIZE="$(KUSTOMIZE)" HELM="$(HELM)" hack/release.sh "$(VERSION)" "$(IMAGE_REPOSITORY)" "$(RELEASE_DIR)"

##@ Demo

# DEMO_DIR holds the demo's kubeconfig and the operator's log.
DEMO_DIR ?= $(LOCALBIN)/demo

.PHONY: demo
demo: envtest ## Run the operator with a local control plane, the VoIPBIN stand-in and the samples; Ctrl-C stops all. DEMO_ONCE=1 exits once Ready.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/manager .
	go build -o "$(LOCALBIN)/voipbin-demo" ./cmd/demo
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" exec "$(LOCALBIN)/voipbin-demo" --dir "$(DEMO_DIR)" $(if $(filter-out 0 false,$(DEMO_ONCE)),--once)

##@ Benchmark

# BENCH_ARGS are the benchmark's flags (go run ./test/bench --help lists them). A quick run:
#   make bench BENCH_ARGS="--crs 100 --shared-crs 100 --unrelated-secrets 1000 --quiet 10s --restart-window 10s --mem-window 10s"
BENCH_ARGS ?=
# SCALING, if set, runs the scaling run instead of the scenarios: the cost curve at
# these numbers of credentials, 100 per login (docs/benchmarks.md, "Scaling"):
#   make bench SCALING=100,1000,10000
# It prints the table and writes out/scaling.json and out/scaling.svg.
SCALING ?=

.PHONY: bench
bench: envtest ## Run the scale benchmark (envtest, the rate-limited VoIPBIN stand-in, bin/manager); prints the table, writes out/bench.json. SCALING=100,1000,10000: the scaling run instead.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/manager .
	go build -o "$(LOCALBIN)/voipbin-bench" ./test/bench
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" exec "$(LOCALBIN)/voipbin-bench" $(if $(SCALING),--scaling $(SCALING)) $(BENCH_ARGS)

##@ Reliability

# SOAK_ARGS are the soak's flags (go run ./test/soak --help lists them); the
# report prints the ones that replay a run, e.g.
#   make soak SOAK_ARGS="--seed 7 --duration 3m --crs 50"
SOAK_ARGS ?=
# SOAK_DIR holds the managers' logs and report.txt of the last run.
SOAK_DIR ?= $(LOCALBIN)/soak

.PHONY: soak
soak: build envtest ## Run the reliability soak (~12 min): faults, restarts, leader hand-overs between two managers; exits 1 if an invariant breaks.
	go build -o "$(LOCALBIN)/voipbin-soak" ./test/soak
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" exec "$(LOCALBIN)/voipbin-soak" --manager bin/manager --dir "$(SOAK_DIR)" $(SOAK_ARGS)

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

KUBECTL ?= kubectl

.PHONY: install
install: manifests kustomize ## Install the CRD into the cluster of the current kubeconfig.
	"$(KUSTOMIZE)" build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRD from the cluster. ignore-not-found=true ignores missing resources.
	"$(KUSTOMIZE)" build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator to the cluster of the current kubeconfig.
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=${IMG}
	"$(KUSTOMIZE)" build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator from the cluster. ignore-not-found=true ignores missing resources.
	"$(KUSTOMIZE)" build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
HELM ?= $(LOCALBIN)/helm
KUBE_SCORE ?= $(LOCALBIN)/kube-score
PROMTOOL ?= $(LOCALBIN)/promtool

CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0
# Helm and kube-score are built from the Go module proxy like the tools above, so
# make test needs no download site: helm lints and renders the chart, kube-score
# scores the chart and the installer.
HELM_VERSION ?= v4.3.2
KUBE_SCORE_VERSION ?= v1.20.0
# promtool unit-tests the alert rules (test/chart). Prometheus v3 tags its Go module
# v0.3xx: v0.316.0 is Prometheus 3.16.
PROMTOOL_VERSION ?= v0.316.0

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/ if missing.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize into bin/ if missing.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into bin/ if missing.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: helm
helm: $(HELM) ## Install helm into bin/ if missing.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

.PHONY: kube-score
kube-score: $(KUBE_SCORE) ## Install kube-score into bin/ if missing.
$(KUBE_SCORE): $(LOCALBIN)
	$(call go-install-tool,$(KUBE_SCORE),github.com/zegl/kube-score/cmd/kube-score,$(KUBE_SCORE_VERSION))

.PHONY: promtool
promtool: $(PROMTOOL) ## Install promtool into bin/ if missing.
$(PROMTOOL): $(LOCALBIN)
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef

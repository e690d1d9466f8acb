# mini-apiserver: `make run` starts the server, `make test` proves it.
SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin

# The Kubernetes API level served is the version of k8s.io/api we build
# against: k8s.io/api v0.37.2 -> v1.37.2.
KUBE_API_VERSION := $(shell $(GO) list -m -f '{{.Version}}' k8s.io/api | sed 's/^v0\./v1./')
GIT_COMMIT := $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
GIT_TREE_STATE := $(shell test -z "$$(git status --porcelain 2>/dev/null)" && echo clean || echo dirty)
BUILD_DATE := $(shell date -u +'%Y-%m-%dT%H:%M:%SZ')
# Both version packages: component-base's is what /version serves,
# client-go's is what the loopback client's user agent says
# (mini-apiserver/v1.37.2 (linux/amd64) kubernetes/<commit>).
VERSION_PKGS := k8s.io/component-base/version k8s.io/client-go/pkg/version
LDFLAGS := $(foreach pkg,$(VERSION_PKGS),-X $(pkg).gitVersion=$(KUBE_API_VERSION) \
	-X $(pkg).gitMajor=$(word 1,$(subst ., ,$(patsubst v%,%,$(KUBE_API_VERSION)))) \
	-X $(pkg).gitMinor=$(word 2,$(subst ., ,$(KUBE_API_VERSION))) \
	-X $(pkg).gitCommit=$(GIT_COMMIT) \
	-X $(pkg).gitTreeState=$(GIT_TREE_STATE) \
	-X $(pkg).buildDate=$(BUILD_DATE))

# The binaries the end-to-end tests run, named once.
TEST_BINS := MINI_APISERVER_BIN=$(BIN)/mini-apiserver AUDIT_SINK_BIN=$(BIN)/audit-sink AUDITCTL_BIN=$(BIN)/auditctl \
	KUBECTL_BIN=$(BIN)/kubectl ETCD_BIN=$(BIN)/etcd VICTORIALOGS_BIN=$(BIN)/victoria-logs

# go test timeout for the whole suite (the budget is 20 minutes cold).
TEST_TIMEOUT ?= 15m

.PHONY: all build run deps test test-faults soak fuzz bench generate verify tools clean demo console-screenshots kube-apiserver golden

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/mini-apiserver ./cmd/mini-apiserver
	$(GO) build -o $(BIN)/audit-sink ./cmd/audit-sink
	$(GO) build -o $(BIN)/auditctl ./cmd/auditctl
	$(GO) build -o $(BIN)/loadgen ./cmd/loadgen

run: build
	$(BIN)/mini-apiserver $(ARGS)

# kubectl and etcd, built from their Go modules at the versions pinned in
# hack/tools/go.mod; VictoriaLogs (the search store of the collection
# tests) from hack/tools/victorialogs/go.mod.
tools: $(BIN)/kubectl $(BIN)/etcd $(BIN)/victoria-logs

KUBECTL_VERSION := $(shell cd hack/tools && $(GO) list -m -f '{{.Version}}' k8s.io/kubectl | sed 's/^v0\./v1./')
KUBECTL_LDFLAGS := $(foreach pkg,k8s.io/client-go/pkg/version k8s.io/component-base/version,\
	-X $(pkg).gitVersion=$(KUBECTL_VERSION) -X $(pkg).gitTreeState=clean)

$(BIN)/kubectl: hack/tools/go.mod hack/tools/go.sum hack/tools/kubectl/main.go
	cd hack/tools && $(GO) build -ldflags "$(KUBECTL_LDFLAGS)" -o $(BIN)/kubectl ./kubectl

$(BIN)/etcd: hack/tools/go.mod hack/tools/go.sum hack/tools/etcd/main.go
	cd hack/tools && $(GO) build -o $(BIN)/etcd ./etcd

$(BIN)/victoria-logs: hack/tools/victorialogs/go.mod hack/tools/victorialogs/go.sum
	cd hack/tools/victorialogs && $(GO) build -o $(BIN)/victoria-logs github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs

generate:
	./hack/update-generated.sh

verify:
	./hack/verify.sh

# The Debian packages the tests use (logrotate), installed if missing.
deps:
	./hack/install-deps.sh

test: deps verify build tools
	$(TEST_BINS) \
		$(GO) test -timeout $(TEST_TIMEOUT) ./...
	cd docs/examples/widget-controller && $(GO) test -timeout $(TEST_TIMEOUT) ./...

# The fault suite alone (it is also part of `make test`).
test-faults: build tools
	$(TEST_BINS) \
		$(GO) test -timeout $(TEST_TIMEOUT) -count=1 -run 'TestFault' -v ./test/e2e

# Thirty minutes of mixed load with audit on both backends, then the HA fault test's faults for
# SOAK_HA_ROUNDS rounds (not in CI).
SOAK_DURATION ?= 30m
SOAK_HA_ROUNDS ?= 10
soak: build tools
	SOAK_DURATION=$(SOAK_DURATION) SOAK_HA_ROUNDS=$(SOAK_HA_ROUNDS) $(TEST_BINS) \
		$(GO) test -timeout 60m -count=1 -run '^TestSoak(HighAvailability)?$$' -v ./test/e2e

# kube-apiserver, built from k8s.io/kubernetes (hack/tools/kube-apiserver/go.mod) into a cache folder,
# for make bench's side-by-side figures (make test does not need it).
KUBE_CACHE ?= $(HOME)/.cache/mini-apiserver
KUBE_VERSION := $(shell sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[^ ]*\).*/\1/p' hack/tools/kube-apiserver/go.mod)
KUBE_APISERVER := $(KUBE_CACHE)/kube-apiserver-$(KUBE_VERSION)
kube-apiserver: $(KUBE_APISERVER)
$(KUBE_APISERVER): hack/tools/kube-apiserver/go.mod hack/tools/kube-apiserver/go.sum
	mkdir -p $(KUBE_CACHE)
	cd hack/tools/kube-apiserver && $(GO) build -o $@ k8s.io/kubernetes/cmd/kube-apiserver

# The golden audit trail: internal/golden's scenario run on kube-apiserver, its trail normalized into
# test/e2e/testdata/golden-kube-apiserver.jsonl, which TestGoldenAuditTrail (make test) compares ours with.
golden: tools kube-apiserver
	$(GO) run ./hack/golden -kube-apiserver $(KUBE_APISERVER) -etcd $(BIN)/etcd

# Start-up, memory, throughput per audit configuration, storage limit, each against kube-apiserver + etcd
# side by side; writes docs/performance.md.
bench: build tools kube-apiserver
	$(GO) run ./hack/bench -bin $(BIN) -kube-apiserver $(KUBE_APISERVER) -out docs/performance.md

# Each fuzz target for FUZZTIME (its seeds also run in `make test`).
FUZZTIME ?= 15s
FUZZ_TARGETS := ./pkg/registry/core/pod:FuzzPodDecodeDefaultValidate ./pkg/auth/abac:FuzzPolicyLine ./pkg/auth:FuzzTokenFile \
	./pkg/audit/sink:FuzzDecodeEventList ./pkg/audit/consumer:FuzzFileName ./pkg/audit/logview:FuzzParseLines
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

clean:
	rm -rf $(BIN)

# The console's screenshots in docs/images, taken by its browser test.
console-screenshots: deps build tools
	mkdir -p docs/images
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/images $(TEST_BINS) \
		$(GO) test -count=1 -run '^TestConsole$$' ./test/e2e

# A narrated, self-checking tour of the audit pipeline (DEMO_PAUSE=1 to step through it).
demo: build tools
	./hack/demo.sh

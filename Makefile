# lbpilot — build, test, benchmark and demo.
#
# `make test` installs the system packages the tests need (haproxy, promtool,
# alertmanager/amtool) with apt-get when they are missing, so a fresh Debian
# machine with only Go can run it.

GO        ?= go
BIN       := bin
PKGS      := ./...
VERSION   ?= $(shell cat VERSION 2>/dev/null || echo 0.0.0-dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git symbolic-ref --short -q HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w \
	-X github.com/prometheus/common/version.Version=$(VERSION) \
	-X github.com/prometheus/common/version.Revision=$(REVISION) \
	-X github.com/prometheus/common/version.Branch=$(BRANCH) \
	-X github.com/prometheus/common/version.BuildUser=lbpilot \
	-X github.com/prometheus/common/version.BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)

# System packages the tests talk to for real; haproxy_exporter only for `make bench`.
# docker-compose (Debian's 1.29, no engine) checks docker-compose.yml and
# systemd's systemd-analyze the unit examples (tools/deploy); mosquitto-clients
# (mosquitto_pub/_sub) talk MQTT to the lab's EMQX brokers; mosquitto (the
# broker, run by the MQTT probe's tests on a free port, never as a service)
# is a second real broker for the probe; chromium runs the rebalancer page's
# browser tests (headless); the demo needs only the first four.
DEB_TEST_PKGS  := haproxy prometheus prometheus-alertmanager mosquitto-clients mosquitto docker-compose systemd chromium
DEB_BENCH_PKGS := prometheus-haproxy-exporter

.PHONY: all build deps demo-deps bench-deps test unit mixin deploy dashboards previews docs fmt-check vet lint checkmetrics fuzz-short fuzz bench demo clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/lbpilot ./cmd/lbpilot
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/lbpilot-lab ./cmd/lbpilot-lab

# deps installs what the tests need and is a no-op when everything is there.
# Debian's packages try to start their services; there is no init here, so a
# policy-rc.d that refuses service starts keeps apt quiet and the exit code 0.
deps: demo-deps
	@missing=""; \
	command -v docker-compose  >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	command -v mosquitto >/dev/null 2>&1 || missing="$$missing mosquitto"; \
	command -v chromium        >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then ./scripts/apt-install.sh $$missing; fi

# demo-deps: what `make demo` runs (and most tests too).
demo-deps:
	@missing=""; \
	command -v haproxy   >/dev/null 2>&1 || missing="$$missing haproxy"; \
	command -v promtool  >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v amtool    >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v prometheus-alertmanager >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v mosquitto_pub >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	command -v mosquitto_sub >/dev/null 2>&1 || missing="$$missing mosquitto-clients"; \
	if [ -n "$$missing" ]; then ./scripts/apt-install.sh $$missing; fi

bench-deps: deps
	@command -v prometheus-haproxy-exporter >/dev/null 2>&1 || ./scripts/apt-install.sh $(DEB_BENCH_PKGS)

# ---------------------------------------------------------------- test ----
# The one command CI runs (.ci/run). Real haproxy/prometheus/alertmanager
# binaries are installed by `deps`; tests that need them fail in CI when
# they are missing.
test: deps fmt-check vet lint build unit mixin deploy checkmetrics fuzz-short
	@echo ">> make test: all checks passed"

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@echo ">> gofmt: clean"

vet:
	$(GO) vet $(PKGS)

# lint runs staticcheck, with the checks named in staticcheck.conf, over the
# root module and the nested ones (tools/mixin, tools/deploy). The pinned
# version is installed once into bin/tools/<version>/ from the module proxy.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(abspath $(BIN))/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# go mod tidy -diff first: a nested module whose go.mod lags the root one
# would otherwise give staticcheck no packages to check.
lint: $(STATICCHECK)
	$(GO) mod tidy -diff
	cd $(MIXIN) && $(GO) mod tidy -diff
	cd $(DEPLOY) && $(GO) mod tidy -diff
	$(STATICCHECK) $(PKGS)
	cd $(MIXIN) && $(STATICCHECK) ./...
	cd $(DEPLOY) && $(STATICCHECK) ./...
	@echo ">> staticcheck: clean"

unit:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# mixin checks the dashboards and alert rules (tools/mixin, a module of its
# own so github.com/prometheus/prometheus stays out of lbpilot's go.mod and
# binary; `go test ./...` at the root does not enter it): every PromQL
# expression parses, every metric is one lbpilot emits, the dashboard lint
# rules, the committed JSON and previews are current. The promtool and
# amtool tests of alerts/ run in `unit`.
MIXIN := tools/mixin
mixin:
	cd $(MIXIN) && $(GO) vet ./...
	cd $(MIXIN) && $(GO) test -race -count=1 ./...

# deploy checks docker-compose.yml (compose-go, and Debian's docker-compose
# config -q), the Dockerfile and examples/systemd (systemd-analyze verify)
# in tools/deploy, a module of its own so compose-go stays out of go.mod.
DEPLOY := tools/deploy
deploy:
	cd $(DEPLOY) && $(GO) vet ./...
	cd $(DEPLOY) && $(GO) test -race -count=1 ./...

# dashboards regenerates dashboards/*.json from tools/mixin/dashboards and
# redraws dashboards/preview/*.png; commit both.
dashboards:
	cd $(MIXIN) && $(GO) run ./cmd/dashgen -out ../../dashboards
	cd $(MIXIN) && $(GO) run ./cmd/dashpreview -dashboards ../../dashboards -out ../../dashboards/preview

# previews re-records dashboards/preview/data.json from a real demo run
# (tools/mixin/cmd/dashrecord: the demo's stack, its scenario, a stretch of
# steady traffic, then every panel's own queries over the run) and redraws
# the previews from it; commit both. Not part of `make test`: `make mixin`
# only checks that the committed previews are drawn from the committed data.
previews: demo-deps build
	cd $(MIXIN) && $(GO) run ./cmd/dashrecord -repo ../.. -bin ../../$(BIN) -dashboards ../../dashboards -out ../../dashboards/preview/data.json
	cd $(MIXIN) && $(GO) run ./cmd/dashpreview -dashboards ../../dashboards -out ../../dashboards/preview

# docs regenerates docs/metrics.md from the collectors' metric catalogs
# (tools/metricsdoc); `make test` fails while the committed page is stale.
docs:
	$(GO) run ./tools/metricsdoc -out docs/metrics.md

# checkmetrics scrapes a running lbpilot exporter (against a real haproxy
# and the lab) and runs `promtool check metrics` on every response.
checkmetrics: build
	./scripts/checkmetrics.sh $(BIN)/lbpilot

# Each fuzz target for a few seconds (make test) or longer (make fuzz).
FUZZTIME ?= 3s
fuzz-short:
	./scripts/fuzz.sh $(FUZZTIME)

fuzz:
	./scripts/fuzz.sh $(or $(FUZZ_LONG),60s)

# ----------------------------------------------------------------- demo ---
# The whole loop on loopback, narrated (docs/lab.md, "Demo"); Ctrl-C stops it.
# DEMO_FLAGS=--no-wait stops after the scenario; --port-base=N moves the ports.
DEMO_FLAGS ?=
demo: demo-deps build
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/lbpilot-demo ./cmd/lbpilot-demo
	$(BIN)/lbpilot-demo --dir=.demo --bin=$(BIN) $(DEMO_FLAGS)

# ---------------------------------------------------------------- bench ---
# Side-by-side measurements written to BENCHMARKS.md (ratios, one run).
# scripts/bench.sh runs each piece of scripts/bench.d/; the pieces run the
# benchmark programs of tools/bench/ (haproxy, collectors, agent; in the
# root module, since they use internal/lab) and the packages' Go benchmarks.
bench: bench-deps build
	./scripts/bench.sh

clean:
	rm -rf $(BIN)

# ClusterKit: the two commands are `make demo` and `make test`.
# Both install missing Debian packages first (as root; otherwise they print the command).

SWIFT ?= swift
BUILD_PACKAGES := libhiredis-dev librabbitmq-dev
SERVER_PACKAGES := redis-server rabbitmq-server
EXAMPLE_PACKAGES := curl jq
DEMO_ARGS ?=
BENCH_ARGS ?=

.PHONY: demo test example-check build bench bench-check packages-build packages-test

## make demo: build the CLI in release mode and run the cluster demo on the configured adapters
demo: packages-build
	$(SWIFT) build -c release --product clusterkit
	$$($(SWIFT) build -c release --show-bin-path)/clusterkit demo $(DEMO_ARGS)

## make test: every test, servers included. Tests run one at a time: the conformance cases
## use real time (TTLs, visibility timeouts, backoffs of a few hundred ms), and on a 2-core
## machine running them all at once delays timers enough to break those bounds.
## `clusterkit-env --check` (the SwiftPM plugin; ~5 s on top of the build it reuses) fails
## when .env.example or the README settings table drifted from ClusterSettings.
test: packages-test
	$(SWIFT) build --build-tests
	$(SWIFT) package clusterkit-env --check
	$(SWIFT) test --no-parallel
	$(MAKE) example-check

## make example-check: the Hummingbird example (a separate package) as three instances on
## one private redis-server; see Examples/HummingbirdCluster/README.md
example-check: packages-test
	@scripts/ensure-packages.sh $(EXAMPLE_PACKAGES)
	$(SWIFT) test --package-path Examples/HummingbirdCluster --no-parallel
	SWIFT=$(SWIFT) Examples/HummingbirdCluster/scripts/three-instance-check.sh

## make bench: `clusterkit bench` (release build), every row, against private servers unless
## REDIS_URL / RABBITMQ_URL are set (make bench BENCH_ARGS="--json --primitive cache")
bench: packages-test
	$(SWIFT) build -c release --product clusterkit
	$$($(SWIFT) build -c release --show-bin-path)/clusterkit bench $(BENCH_ARGS)

## make bench-check: instructions and mallocs per operation of the hot paths, counted under
## callgrind, against benchmarks/hotpaths-thresholds.json (load-independent; scripts/bench-check.py).
## Needs redis-server: the redis-queue-job and redis-cache-get paths each start a private one.
bench-check: packages-test
	@scripts/ensure-packages.sh valgrind
	$(SWIFT) build -c release --product clusterkit-hotpaths
	scripts/bench-check.py --binary $$($(SWIFT) build -c release --show-bin-path)/clusterkit-hotpaths

build: packages-build
	$(SWIFT) build

packages-build:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)

packages-test:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) $(SERVER_PACKAGES)

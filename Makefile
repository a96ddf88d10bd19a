# ClusterKit: the two commands are `make demo` and `make test`.
# Both install missing Debian packages first (as root; otherwise they print the command).

SWIFT ?= swift
BUILD_PACKAGES := libhiredis-dev librabbitmq-dev
SERVER_PACKAGES := redis-server rabbitmq-server
DEMO_ARGS ?=
BENCH_ARGS ?=

.PHONY: demo test build bench bench-check packages-build packages-test

## make demo: build the CLI in release mode and run the cluster demo on the configured adapters
demo: packages-build
	$(SWIFT) build -c release --product clusterkit
	$$($(SWIFT) build -c release --show-bin-path)/clusterkit demo $(DEMO_ARGS)

## make test: every test, servers included. Tests run one at a time: the conformance cases
## use real time (TTLs, visibility timeouts, backoffs of a few hundred ms), and on a 2-core
## machine running them all at once delays timers enough to break those bounds.
test: packages-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --no-parallel

## make bench: `clusterkit bench` (release build), every row, against private servers unless
## REDIS_URL / RABBITMQ_URL are set (make bench BENCH_ARGS="--json --primitive cache")
bench: packages-test
	$(SWIFT) build -c release --product clusterkit
	$$($(SWIFT) build -c release --show-bin-path)/clusterkit bench $(BENCH_ARGS)

## make bench-check: instructions and mallocs per operation of the hot paths, counted under
## callgrind, against benchmarks/hotpaths-thresholds.json (load-independent; scripts/bench-check.py)
bench-check: packages-build
	@scripts/ensure-packages.sh valgrind
	$(SWIFT) build -c release --product clusterkit-hotpaths
	scripts/bench-check.py --binary $$($(SWIFT) build -c release --show-bin-path)/clusterkit-hotpaths

build: packages-build
	$(SWIFT) build

packages-build:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)

packages-test:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) $(SERVER_PACKAGES)

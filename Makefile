# ClusterKit: the two commands are `make demo` and `make test`.
# Both install missing Debian packages first (as root; otherwise they print the command).

SWIFT ?= swift
BUILD_PACKAGES := libhiredis-dev librabbitmq-dev
SERVER_PACKAGES := redis-server rabbitmq-server
DEMO_ARGS ?=

.PHONY: demo test build packages-build packages-test

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

build: packages-build
	$(SWIFT) build

packages-build:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)

packages-test:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) $(SERVER_PACKAGES)

# nomnom: the PostgreSQL extension (PGXS) and the project's entry points.
# `make deps`, `make`, `make install`, `make test`, `make demo`, `make bench` (see README.md).

EXTENSION    = nomnom
MODULE_big   = nomnom
DATA         = $(wildcard sql/nomnom--*.sql)
CORE_SOURCES = $(wildcard extension/core/src/*.cpp)
PG_SOURCES   = $(wildcard extension/src/*.cpp extension/src/*/*.cpp)
OBJS         = $(CORE_SOURCES:.cpp=.o) $(PG_SOURCES:.cpp=.o)

PG_CONFIG   ?= pg_config
PG_CPPFLAGS  = -Iextension/core/include -Iextension/src
PG_CXXFLAGS  = -std=c++17 -fPIC -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
               -Wno-register
SHLIB_LINK   = -ljansson -lnats -lcrypto -luuid -lyaml -lstdc++
# No LLVM bitcode: it needs a matching clang and JIT-inlining C++ gains nothing here.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Rebuild objects when a header they include changes (PGXS does not track C++ headers).
override CXXFLAGS += -MMD -MP
-include $(OBJS:.o=.d)
EXTRA_CLEAN += $(OBJS:.o=.d)

BUILD_DIR ?= build

.PHONY: deps core-build install-all test installcheck unit pgtap e2e demo demo-stop bench fuzz docker-test

deps:
	bash test/harness/install-deps.sh

core-build:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_DIR) -j2

all: core-build

install: install-all
install-all: core-build
	@if [ -f $(BUILD_DIR)/bridge/nomnom-bridge ]; then \
	    install -m 0755 $(BUILD_DIR)/bridge/nomnom-bridge $(DESTDIR)/usr/local/bin/nomnom-bridge; fi

# The whole suite, as CI runs it: deps, build, install, unit, pgTAP, end to end.
test:
	bash test/harness/run-tests.sh

# Every libFuzzer target (test/fuzz/README.md) for FUZZ_SECONDS each, from its seed corpus.
FUZZ_SECONDS ?= 60
fuzz:
	bash test/harness/install-deps.sh
	bash test/fuzz/run.sh $(FUZZ_SECONDS)

# The SQL surface alone, fast: build, install, the pgTAP suites that need no NATS.
installcheck:
	bash test/harness/run-tests.sh sql

# On a fresh machine: deps, build, install, then a local stack with the example order in it.
demo:
	bash test/harness/install-deps.sh
	$(MAKE) all
	$(MAKE) install
	bash test/harness/demo.sh start

demo-stop:
	bash test/harness/demo.sh stop

# The benchmark (bench/README.md): builds, then installs and runs bench/run.sh on its own
# local stack while holding the install lock that every checkout on this machine shares,
# so the nomnom.so it measures is this checkout's. BENCH_ARGS=--large adds a 1M-order drain.
bench: core-build
	flock /tmp/nomnom-install.lock sh -c '$(MAKE) install && bash bench/run.sh $(BENCH_ARGS)'

# The images (docker/Dockerfile) built and docker/compose.yaml run for real with podman and
# podman-compose, alone and with the 3-node NATS cluster overlay (docker/README.md). Not part
# of `make test`. Needs root; its packages come with `make deps`.
docker-test:
	bash test/harness/install-deps.sh
	bash docker/docker-test.sh

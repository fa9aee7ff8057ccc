# syntax=docker/dockerfile:1
# PostgreSQL 15 with the nomnom extension built in and preloaded.
# The build context is the repository root:
#   docker build -f docker/postgres.Dockerfile -t nomnom-postgres .
# On first start (empty data directory) docker/postgres-initdb/ configures the server,
# creates the extension, defines the TPC-H entities and creates the JetStream stream.

# --- build: the extension (PGXS) and the C++ parts (CMake), installed into /out ------------
FROM postgres:15-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# postgresql-server-dev-15 comes from the same PGDG repository as the server in the image.
# The top-level CMakeLists.txt also configures the bridge and the unit tests, so their
# headers (libmicrohttpd, GoogleTest) are needed to run `make`, though not at run time.
# RapidJSON is header-only: compiled in, nothing of it is needed at run time.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        postgresql-server-dev-15 g++ make cmake pkg-config \
        libnats-dev libjansson-dev rapidjson-dev uuid-dev libpq-dev \
        libmicrohttpd-dev libgtest-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# PGXS against the image's own server (not whatever /usr/bin/pg_config picks). DESTDIR
# stages the install; the Makefile's install also copies nomnom-bridge to
# $(DESTDIR)/usr/local/bin, which must exist (that binary is not used in this image).
ENV PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
RUN make -j"$(nproc)" \
 && mkdir -p /out/usr/local/bin \
 && make install DESTDIR=/out

# --- runtime: the stock image plus the extension and its shared libraries, no compiler ----
FROM postgres:15-bookworm
# Debian 12 names of what `ldd nomnom.so` lists: libnats3.4 (nats.c), libjansson4,
# libuuid1 and libstdc++6 (the last two are already in the base image).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnats3.4 libjansson4 libuuid1 libstdc++6 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/lib/postgresql/15/lib/ /usr/lib/postgresql/15/lib/
COPY --from=build /out/usr/share/postgresql/15/extension/ /usr/share/postgresql/15/extension/
# Entity specs defined at first start, in any order (a child waits for its parent).
COPY test/fixtures/tpch/order.json test/fixtures/tpch/orderlineitem.json /usr/share/nomnom/entities/
COPY --chmod=0755 docker/postgres-initdb/ /docker-entrypoint-initdb.d/

# Read by the init scripts on first start only; afterwards use ALTER SYSTEM or
# postgresql.conf. NOMNOM_DATABASE defaults to POSTGRES_DB (itself POSTGRES_USER).
ENV NOMNOM_NATS_URL=nats://nats:4222 \
    NOMNOM_ENTITIES_DIR=/usr/share/nomnom/entities \
    NOMNOM_STREAM=MESSAGES \
    NOMNOM_STREAM_SUBJECTS="messages.ingest.>" \
    NOMNOM_STREAM_OPTIONS="{}"

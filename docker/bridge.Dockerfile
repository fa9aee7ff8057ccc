# syntax=docker/dockerfile:1
# nomnom-bridge: HTTP in, JetStream out. The build context is the repository root:
#   docker build -f docker/bridge.Dockerfile -t nomnom-bridge .

# --- build: only the nomnom-bridge CMake target ------------------------------------------
FROM debian:bookworm-slim AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# libgtest-dev and rapidjson-dev (headers only, for the extension's core): the top-level
# CMakeLists.txt looks them up while configuring, even though only nomnom-bridge is built here.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        g++ make cmake pkg-config \
        libmicrohttpd-dev libnats-dev libjansson-dev rapidjson-dev libpq-dev uuid-dev libgtest-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target nomnom-bridge -j"$(nproc)" \
 && install -D -m 0755 build/bridge/nomnom-bridge /out/usr/local/bin/nomnom-bridge

# --- runtime: the binary, its shared libraries, curl for the healthcheck -----------------
FROM debian:bookworm-slim
# Debian 12 names of what `ldd nomnom-bridge` lists: libnats3.4, libmicrohttpd12,
# libjansson4, libpq5, libuuid1 (libstdc++6 comes with the base image).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libnats3.4 libmicrohttpd12 libjansson4 libpq5 libuuid1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin nomnom
COPY --from=build /out/usr/local/bin/nomnom-bridge /usr/local/bin/nomnom-bridge

# Defaults for the compose stack (service names nats and postgres). Every option is read
# from these variables and a command-line flag wins, so both `docker run -e NATS_URL=…` and
# `docker run nomnom-bridge --nats …` work. NATS_STREAM and NOMNOM_TOKEN_FILE are unset:
# the bridge's defaults (stream MESSAGES, no token) apply.
ENV NOMNOM_LISTEN=0.0.0.0:8080 \
    NATS_URL=nats://nats:4222 \
    DATABASE_URL=postgresql://postgres:postgres@postgres/postgres

USER nomnom
EXPOSE 8080
# /health answers 200 only when NATS, the stream and PostgreSQL all answer. Three tries
# 10 s apart leave the bridge time to connect (no --start-period: dockerfilelint 1.8
# misreads that option's name).
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/nomnom-bridge"]

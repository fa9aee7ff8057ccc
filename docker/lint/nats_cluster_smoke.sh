#!/usr/bin/env bash
# Runs docker/nats-cluster/nats-{1,2,3}.conf as a real 3-node cluster on 127.0.0.1: each
# file with its host names, ports and store_dir rewritten for this machine, nothing else.
# Passes when every node's /healthz answers ok, the JetStream meta group has 3 peers and a
# stream with three replicas is created. Stops its servers by PID and removes its folder.
#   nats_cluster_smoke.sh nats-1.conf nats-2.conf nats-3.conf
set -euo pipefail
(($# == 3)) || { echo "usage: $0 nats-1.conf nats-2.conf nats-3.conf" >&2; exit 2; }

work=$(mktemp -d /tmp/nomnom-nats-cluster.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Nine free ports: client, monitoring and route port of each node.
read -r -a ports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(9)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')

confs=("$@")
for i in 0 1 2; do
    n=$((i + 1))
    sed_args=(
        -e "s|^listen: .*|listen: 127.0.0.1:${ports[i * 3]}|"
        -e "s|^http: .*|http: 127.0.0.1:${ports[i * 3 + 1]}|"
        -e "s|^\( *\)listen: 0.0.0.0:6222|\1listen: 127.0.0.1:${ports[i * 3 + 2]}|"
        -e "s|store_dir: .*|store_dir: $work/data-$n|"
    )
    for j in 0 1 2; do
        host=nats-$((j + 1))
        ((j > 0)) || host=nats # node 1 is the service nats
        sed_args+=(-e "s|nats-route://$host:6222|nats-route://127.0.0.1:${ports[j * 3 + 2]}|")
    done
    sed "${sed_args[@]}" "${confs[i]}" > "$work/nats-$n.conf"
    if grep -q -e '6222' -e '/data$' "$work/nats-$n.conf"; then
        echo "rewriting ${confs[i]} left container ports or paths:" >&2
        cat "$work/nats-$n.conf" >&2
        exit 1
    fi
    nats-server -c "$work/nats-$n.conf" -l "$work/nats-$n.log" &
    pids+=($!)
done

healthy() {
    local i
    for i in 0 1 2; do
        curl -fsS "http://127.0.0.1:${ports[i * 3 + 1]}/healthz" >/dev/null 2>&1 || return 1
    done
}
deadline=$((SECONDS + 30))
until healthy; do
    if ((SECONDS >= deadline)); then
        echo "cluster not healthy after 30s" >&2
        tail -n 20 "$work"/nats-*.log >&2
        exit 1
    fi
    sleep 0.5
done

meta=$(curl -fsS "http://127.0.0.1:${ports[1]}/jsz" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["meta_cluster"]["cluster_size"])')
[[ $meta == 3 ]] || { echo "meta cluster size $meta, expected 3" >&2; exit 1; }

# Create an R3 stream over the plain NATS protocol (no NATS CLI needed): the JetStream API
# answers on the reply subject with the stream info or an error.
python3 - "${ports[0]}" <<'PY'
import json, socket, sys, time
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
buf = b""
def line():
    global buf
    while b"\r\n" not in buf:
        buf += sock.recv(65536)
    out, buf = buf.split(b"\r\n", 1)
    return out
def payload(n):
    global buf
    while len(buf) < n + 2:
        buf += sock.recv(65536)
    out, buf = buf[:n], buf[n + 2:]
    return out
line()  # INFO
body = json.dumps({"name": "LINT_R3", "subjects": ["lint.r3"], "num_replicas": 3,
                   "storage": "file"}).encode()
sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.lint 1\r\n'
             + b"PUB $JS.API.STREAM.CREATE.LINT_R3 _INBOX.lint %d\r\n" % len(body) + body + b"\r\n")
deadline = time.time() + 15
while time.time() < deadline:
    words = line().split()
    if words[:1] == [b"PING"]:
        sock.sendall(b"PONG\r\n")
    elif words[:1] == [b"MSG"]:
        answer = json.loads(payload(int(words[-1])))
        if "error" in answer:
            sys.exit("stream create failed: %s" % answer["error"])
        replicas = answer.get("cluster", {}).get("replicas", [])
        if answer["config"]["num_replicas"] != 3 or len(replicas) != 2:
            sys.exit("stream has %r, expected a leader and 2 replicas" % answer.get("cluster"))
        sys.exit(0)
    elif words[:1] == [b"-ERR"]:
        sys.exit(b" ".join(words).decode())
sys.exit("no answer from $JS.API.STREAM.CREATE")
PY

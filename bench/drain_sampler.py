#!/usr/bin/env python3
"""Where one drain's wall time went, sampled from /proc while it runs (bench/run.sh --diagnose).

    drain_sampler.py --worker PID --nats PID --postmaster PID --stop FILE --out FILE

Every 50 ms until FILE --stop exists: the state and CPU of each thread of the worker and of
nats-server, the postmaster's other children (autovacuum workers, checkpointer, WAL writer),
and the machine's CPU time (/proc/stat). Writes one line of KEY=VALUE to --out:

  cpu_busy_s      every process's CPU on the machine over the window (both cores)
  ours_s          the worker's, nats-server's and PostgreSQL's processes' (of it)
  others_s        cpu_busy_s - ours_s: the rest of the machine (builds, tests, shells)
  idle_s, steal_s both cores' idle time, and the time the hypervisor gave a vCPU that had
                  work to something else (/proc/stat's steal: not seen as CPU by anyone here)
  backend_cpu, backend_rq, prefetch_cpu, prefetch_rq   each thread's on-CPU and run-queue
                  seconds (schedstat deltas)
  nats_cpu, nats_rq   all of nats-server's threads
  av_cpu          autovacuum workers' CPU (each seen one's ticks, first to last sample)
  av_pids         how many autovacuum workers were seen
  ckpt_cpu walw_cpu bgw_cpu   the checkpointer's, WAL writer's, background writer's CPU
  same_cpu        share of samples in which the backend and prefetch threads were both
                  runnable and last ran on the same CPU (one of them waiting for the other)
  backend_cpu0    share of samples the backend thread was last on CPU 0 (placement)
Reading /proc costs the sampler ~1-2% of one core; it runs beside every row alike.
"""
import argparse
import os
import time

HZ = os.sysconf("SC_CLK_TCK")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def stat_fields(path):
    """The fields of a /proc stat file after the command name: [state, ppid, ...]."""
    text = read(path)
    if text is None:
        return None
    return text[text.rindex(")") + 2:].split()


def schedstat(path):
    text = read(path)
    if text is None:
        return None
    on, queue, _ = text.split()
    return int(on), int(queue)


def ticks(fields):
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def machine_times():
    """(busy, idle, steal) ticks of both CPUs so far: busy is user..softirq, idle counts
    iowait, steal is time the hypervisor ran something else on a vCPU that wanted to run."""
    values = [int(v) for v in read("/proc/stat").split("\n", 1)[0].split()[1:9]]
    return sum(values[:7]) - values[3] - values[4], values[3] + values[4], values[7]


def children(pid):
    text = read(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in text.split()] if text else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", type=int, default=0, help="0: no worker (COPY, the peer)")
    ap.add_argument("--nats", type=int, required=True)
    ap.add_argument("--postmaster", type=int, required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    worker = args.worker
    prefetch_tid = None
    first = {}  # key -> (on_ns, queue_ns) at first sight
    last = {}
    proc_first = {}  # pid -> (kind, ticks at first sight)
    proc_last = {}
    times0 = machine_times()
    samples = same_cpu = backend_cpu0 = 0

    def note(key, value):
        if value is None:
            return
        first.setdefault(key, value)
        last[key] = value

    while not os.path.exists(args.stop):
        backend = None
        if worker:
            backend = stat_fields(f"/proc/{worker}/task/{worker}/stat")
            note("backend", schedstat(f"/proc/{worker}/task/{worker}/schedstat"))
        if worker and prefetch_tid is None:
            for tid in os.listdir(f"/proc/{worker}/task") if os.path.isdir(f"/proc/{worker}/task") else []:
                if (read(f"/proc/{worker}/task/{tid}/comm") or "").strip() == "nn_prefetch":
                    prefetch_tid = int(tid)
        prefetch = None
        if prefetch_tid is not None:
            prefetch = stat_fields(f"/proc/{worker}/task/{prefetch_tid}/stat")
            note("prefetch", schedstat(f"/proc/{worker}/task/{prefetch_tid}/schedstat"))
        if backend and prefetch:
            samples += 1
            if backend[36] == "0":  # processor (field 39)
                backend_cpu0 += 1
            if backend[0] == "R" and prefetch[0] == "R" and backend[36] == prefetch[36]:
                same_cpu += 1
        on = queue = 0
        for tid in os.listdir(f"/proc/{args.nats}/task"):
            s = schedstat(f"/proc/{args.nats}/task/{tid}/schedstat")
            if s:
                on += s[0]
                queue += s[1]
        note("nats", (on, queue))
        for pid in children(args.postmaster):
            cmd = (read(f"/proc/{pid}/cmdline") or "").replace("\0", " ")
            kind = ("av" if "autovacuum worker" in cmd else "ckpt" if "checkpointer" in cmd
                    else "walw" if "walwriter" in cmd else "bgw" if "background writer" in cmd
                    else "other")
            fields = stat_fields(f"/proc/{pid}/stat")
            if fields is None:
                continue
            proc_first.setdefault(pid, (kind, ticks(fields)))
            proc_last[pid] = (kind, ticks(fields))
        time.sleep(0.05)

    busy, idle, steal = ((b - a) / HZ for a, b in zip(times0, machine_times()))

    def delta(key, i):
        if key not in first:
            return 0.0
        return (last[key][i] - first[key][i]) / 1e9

    by_kind = {}
    for pid, (kind, t) in proc_last.items():
        by_kind[kind] = by_kind.get(kind, 0) + (t - proc_first[pid][1]) / HZ
    av_pids = sum(1 for kind, _ in proc_last.values() if kind == "av")
    # Every PostgreSQL process (the worker, client backends, the background ones) and
    # nats-server, every thread.
    ours = by_kind.get("other", 0) + by_kind.get("av", 0) + by_kind.get("ckpt", 0) + by_kind.get("walw", 0) + \
        by_kind.get("bgw", 0) + delta("nats", 0)
    out = {
        "cpu_busy_s": busy,
        "ours_s": ours,
        "others_s": busy - ours,
        "idle_s": idle, "steal_s": steal,
        "backend_cpu": delta("backend", 0), "backend_rq": delta("backend", 1),
        "prefetch_cpu": delta("prefetch", 0), "prefetch_rq": delta("prefetch", 1),
        "nats_cpu": delta("nats", 0), "nats_rq": delta("nats", 1),
        "av_cpu": by_kind.get("av", 0), "av_pids": av_pids,
        "ckpt_cpu": by_kind.get("ckpt", 0), "walw_cpu": by_kind.get("walw", 0),
        "bgw_cpu": by_kind.get("bgw", 0),
        "same_cpu": same_cpu / samples if samples else 0,
        "backend_cpu0": backend_cpu0 / samples if samples else 0,
    }
    with open(args.out, "w") as f:
        f.write(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in out.items()) + "\n")


if __name__ == "__main__":
    main()

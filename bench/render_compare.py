#!/usr/bin/python3
"""Renders bench/compare's markdown: goray's microbenchmark beside the Dask
peer (same run, same machine) and Ray's published figures (measured elsewhere).

usage: render_compare.py --goray goray.json --order names.txt [--dask dask.txt]
                         [--goray-cmd CMD] [--goray-version V] [--dask-cmd CMD]
                         [--dask-version V] [--dask-note NOTE] [--date WHEN]
"""
import argparse
import datetime
import json
import os
import platform

# Ray 2.48.0, release/perf_metrics/microbenchmark.json, m5.16xlarge (64 vCPUs).
RAY_SOURCE = "Ray 2.48.0, release/perf_metrics/microbenchmark.json, m5.16xlarge 64 vCPUs"
RAY = {
    "single_client_tasks_sync": 981,
    "single_client_tasks_async": 8041,
    "1_1_actor_calls_sync": 2012,
    "1_1_actor_calls_async": 8664,
    "1_1_actor_calls_concurrent": 5775,
    "single_client_put_calls": 5173,
    "single_client_get_calls": 10620,
    "single_client_put_gigabytes": 19.9,
    "single_client_wait_1k_refs": 5.08,
    "single_client_tasks_and_get_batch": 5.80,
}

NOTES = {
    "single_client_get_gigabytes": (
        "goray: a Get of a 1 GiB object already in the local shared-memory store, "
        "which returns a zero-copy view (mapped once, then cached), so this is a lookup "
        "rate expressed in GB/s, not a copy. Dask: `Future.result()` of a scattered "
        "100 MiB array, which fetches it from a worker process each time."
    ),
    "single_client_put_gigabytes": (
        "goray: `ray.Put` of an 800 MiB []byte into shared memory (Ray's object: 100 Mi "
        "int64). Dask: `scatter(direct=True)` of a 100 MiB array to a worker."
    ),
}


def machine():
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = "%.1f GiB" % (int(line.split()[1]) / (1 << 20))
                    break
    except OSError:
        pass
    return nproc, model, mem


def read_dask(path):
    out = {}
    if not path or not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out


def fmt(v):
    if v is None:
        return "—"
    if abs(v) >= 100:
        return "{:,.0f}".format(v)
    return "{:,.2f}".format(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--goray", required=True)
    ap.add_argument("--order", required=True)
    ap.add_argument("--dask")
    ap.add_argument("--goray-cmd", default="goray microbenchmark")
    ap.add_argument("--goray-version", default="goray")
    ap.add_argument("--dask-cmd", default="dask_microbench.py")
    ap.add_argument("--dask-version", default="")
    ap.add_argument("--dask-note", default="")
    ap.add_argument("--date", help="when it was measured (default: now)")
    a = ap.parse_args()

    goray = {}
    if os.path.exists(a.goray):
        with open(a.goray) as f:
            goray = json.load(f)
    dask = read_dask(a.dask)
    with open(a.order) as f:
        order = [l.strip() for l in f if l.strip()]
    for name in dask:
        if name not in order:
            order.append(name)

    nproc, model, mem = machine()
    now = a.date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    out.append("## goray vs Dask: Ray's microbenchmark metrics")
    out.append("")
    out.append("Measured in the same run, one after the other, on the same machine: "
               "**%d CPUs (nproc), %s, %s RAM** (Linux %s, %s)." % (nproc, model, mem, platform.release(), now))
    out.append("")
    out.append("- goray: %s, `%s` (mean ± sd of the trial rates)." % (a.goray_version, a.goray_cmd))
    if dask:
        out.append("- Dask: %s, `%s` (one timed run per metric, the peer script's method)." % (a.dask_version or "distributed", a.dask_cmd))
    else:
        out.append("- Dask: not measured (%s)." % (a.dask_note or "the peer did not run"))
    out.append("- Ray: published figures, **measured elsewhere: %s**; not run here, shown for scale only." % RAY_SOURCE)
    out.append("")
    out.append("| metric | unit | goray | Dask | goray/Dask | Ray 2.48.0 (measured elsewhere) |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: |")
    notes = []
    for name in order:
        g = goray.get(name)
        d = dask.get(name)
        r = RAY.get(name)
        if g is None and d is None and r is None:
            continue
        unit = "GB/s" if "gigabytes" in name else "/s"
        gs = "—" if g is None else "%s ± %s" % (fmt(g["mean"]), fmt(g["sd"]))
        ratio = "—"
        if g is not None and d:
            ratio = fmt(g["mean"] / d) + "×"
        label = name
        if name in NOTES:
            notes.append(NOTES[name])
            label += " [%d]" % len(notes)
        out.append("| %s | %s | %s | %s | %s | %s |" % (label, unit, gs, fmt(d), ratio, fmt(r)))
    out.append("")
    for i, n in enumerate(notes, 1):
        out.append("[%d] %s" % (i, n))
        out.append("")
    out.append("goray/Dask is the ratio of the two means measured here (above 1: goray is faster). "
               "\"—\": not measured. GB = 1e9 bytes.")
    print("\n".join(out))


if __name__ == "__main__":
    main()

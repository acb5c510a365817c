#!/usr/bin/env python3
"""Turns Google Benchmark JSON files (from scripts/run-benchmarks.sh) into the markdown table of
benchmarks/README.md: medians, ratios against the peer (Boost.Odeint) and against the lower bound
(function evaluations x one evaluation), gradient/forward ratios, thread speed-up, allocations.

usage: benchmarks_to_markdown.py RESULT.json... > benchmarks.md   (python3 standard library only)
"""
import json
import os
import platform
import sys


def load(paths):
    runs, context = {}, None
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        context = context or data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                runs[b["run_name"]] = {"failed": b.get("error_message", "error")}
                continue
            name = b.get("run_name", b["name"])
            kind = b.get("run_type", "iteration")
            if kind == "aggregate" and b.get("aggregate_name") != "median":
                continue
            # A median beats a single iteration; keep the first single iteration otherwise.
            if kind == "aggregate" or name not in runs:
                runs[name] = b
    return runs, context


SCALE = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def seconds(b, real=False):
    """Median time in seconds: CPU time (one thread; robust on a shared machine) unless real."""
    if b is None or "failed" in b:
        return None
    key = "real_time" if real or "real_time" in b.get("run_name", b["name"]) else "cpu_time"
    return b[key] * SCALE[b.get("time_unit", "ns")]


def fmt_time(s):
    if s is None:
        return "n/a"
    for unit, factor in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= factor:
            return f"{s / factor:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt(x, digits=3):
    return "n/a" if x is None else f"{x:.{digits}g}"


def verdict(value, target, at_least):
    if value is None:
        return "n/a"
    ok = value >= target if at_least else value <= target
    return ("met" if ok else "**missed**") + f" ({'≥' if at_least else '≤'} {target:g})"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(paths):
    runs, ctx = load(paths)
    get = runs.get
    out = []
    p = out.append
    p("### Machine")
    p("")
    p(f"- CPU: {cpu_model()}, {ctx.get('num_cpus', '?')} cores at {ctx.get('mhz_per_cpu', '?')} MHz; "
      f"load average at the start: {', '.join(f'{x:.2f}' for x in ctx.get('load_avg', [])) or '?'}")
    p(f"- Compiler: {os.environ.get('NDE_BENCH_COMPILER', 'unknown')}; flags: {os.environ.get('NDE_BENCH_FLAGS', 'Release (-O3 -DNDEBUG)')}")
    p(f"- Google Benchmark build: {ctx.get('library_build_type', '?')}; date: {ctx.get('date', '?')}")
    p(f"- Times are medians of the repetitions (CPU time of the benchmark thread; wall time for the threaded rows).")
    p("")

    # ---- W1 against odeint ------------------------------------------------------------------
    p("### W1 spiral forward (batch 1) against Boost.Odeint")
    p("")
    nde, ode = get("w1_nde"), get("w1_odeint")
    if nde and ode and "failed" not in nde and "failed" not in ode:
        ratio = seconds(ode) / seconds(nde)
        p("| solver | median | NFE | steps | max error vs reference | allocations per solve |")
        p("|---|---|---|---|---|---|")
        for label, b in (("nde::solve, dopri5, save_at::times", nde), ("odeint integrate_times, dense dopri5", ode)):
            p(f"| {label} | {fmt_time(seconds(b))} | {b.get('nfe', 0):.0f} | {b.get('steps', 0):.0f} | "
              f"{b.get('max_error', float('nan')):.2e} | {b.get('allocs_per_solve', float('nan')):.3g} |")
        p("")
        p(f"odeint / nde time: **{ratio:.2f}×** — target {verdict(ratio, 3.5, True)}; "
          f"NFE nde/odeint {nde['nfe'] / ode['nfe']:.3f}; max error nde/odeint {nde['max_error'] / ode['max_error']:.3f}.")
        w3n, w3o = get("w3_nde"), get("w3_odeint")
        if w3n and w3o and "failed" not in w3n and "failed" not in w3o:
            p(f"W3 (fixed RK4, 1000 steps): nde {fmt_time(seconds(w3n))}, odeint runge_kutta4 {fmt_time(seconds(w3o))}, "
              f"odeint / nde {seconds(w3o) / seconds(w3n):.2f}×.")
    else:
        p("Boost.Odeint comparison not built or not run.")
    p("")

    # ---- overhead and bounds --------------------------------------------------------------
    p("### Solver overhead: solve time / (NFE × one evaluation), same run")
    p("")
    p("| solve | median | NFE | one evaluation | NFE × evaluation | ratio | target |")
    p("|---|---|---|---|---|---|---|")
    pairs = [("W1 dopri5 batch 1, 1000 dense outputs", "w1_forward/batch1", "field_eval/spiral_batch1", 1.10),
             ("W1 dopri5 batch 20, 1000 dense outputs", "w1_forward/batch20", "field_eval/spiral_batch20", 1.10),
             ("W3 RK4, 1000 steps", "w3_forward", "field_eval/spiral_batch1", 1.10),
             ("W4 dopri5, 32-256-256-32 × 128 (lower bound)", "w4_forward", "w4_field_eval", 1.20)]
    for label, solve, ev, target in pairs:
        s, e = get(solve), get(ev)
        if not s or not e or "failed" in s or "failed" in e:
            continue
        bound = s["nfe"] * seconds(e)
        r = seconds(s) / bound
        extra = f" (per step: {fmt_time((seconds(s) - bound) / max(s.get('steps', 1) + s.get('rejected', 0), 1))} over the evaluations)"
        p(f"| {label} | {fmt_time(seconds(s))} | {s['nfe']:.0f} | {fmt_time(seconds(e))} | {fmt_time(bound)} | "
          f"{r:.3f}{extra} | {verdict(r, target, False)} |")
    p("")

    # ---- gradients ------------------------------------------------------------------------
    p("### Gradients: backward pass / forward pass of the same iterations")
    p("")
    p("| workload | method | forward | backward | backward / forward | (forward + backward) / forward | NFE fwd / bwd, vjps | target (backward / forward) |")
    p("|---|---|---|---|---|---|---|---|")
    targets = {"discrete": 3.0, "backsolve": 4.0}
    for name, b in sorted(runs.items()):
        if "failed" in b or "forward_s" not in b:
            continue
        method = next((m for m in ("backsolve", "checkpointed", "discrete") if m in name), "?")
        workload = "W2 spiral" if name.startswith("w2") else "W3 RK4" if name.startswith("w3") else "W4 wide" if name.startswith("w4") else name
        f, bw = b["forward_s"], b["backward_s"]
        t = targets.get(method)
        p(f"| {workload} | {method} | {fmt_time(f)} | {fmt_time(bw)} | {bw / f:.2f} | {(f + bw) / f:.2f} | "
          f"{b.get('nfe_forward', 0):.0f} / {b.get('nfe_backward', 0):.0f}, {b.get('vjp_backward', 0):.0f} | "
          f"{verdict(bw / f, t, False) if t else '—'} |")
    p("")

    # ---- threads --------------------------------------------------------------------------
    p("### Per-sample parallel gradients (W2's 20 windows as 20 solves), wall time")
    p("")
    p("| method | 1 thread | 2 threads | speed-up | target |")
    p("|---|---|---|---|---|")
    for method in ("discrete_adjoint", "backsolve_adjoint"):
        one = get(f"per_sample_gradients<nde::{method}>/1/real_time")
        two = get(f"per_sample_gradients<nde::{method}>/2/real_time")
        if one and two and "failed" not in one and "failed" not in two:
            s = seconds(one, True) / seconds(two, True)
            p(f"| {method} | {fmt_time(seconds(one, True))} | {fmt_time(seconds(two, True))} | {s:.2f}× | {verdict(s, 1.8, True)} |")
    p("")

    # ---- allocations ----------------------------------------------------------------------
    p("### Heap allocations per solve (workspace already built)")
    p("")
    p("| benchmark | allocations per solve |")
    p("|---|---|")
    for name, b in sorted(runs.items()):
        if "allocs_per_solve" in b:
            p(f"| {name} | {b['allocs_per_solve']:.3g} |")
    p("")

    # ---- everything -----------------------------------------------------------------------
    p("### All benchmarks (medians)")
    p("")
    p("| benchmark | median (CPU) | median (wall) | counters |")
    p("|---|---|---|---|")
    skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations", "real_time",
            "cpu_time", "time_unit", "family_index", "per_family_instance_index", "aggregate_name", "aggregate_unit"}
    for name, b in runs.items():
        if "failed" in b:
            p(f"| {name} | error: {b['failed']} | | |")
            continue
        counters = ", ".join(f"{k}={v:.4g}" for k, v in b.items() if k not in skip and isinstance(v, (int, float)))
        p(f"| {name} | {fmt_time(seconds(b))} | {fmt_time(seconds(b, True))} | {counters} |")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])

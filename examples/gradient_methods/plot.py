"""Figure of the gradient_methods example: time and memory of every method, both workloads."""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METHODS = ["backsolve\n(seminorm)", "backsolve\n(full norm)", "checkpointed", "discrete",
           "discrete,\n4 checkpoints", "forward\nsensitivities"]
WORKLOADS = ["20 windows x 10 points", "one trajectory, 50 outputs"]

out = Path(sys.argv[1])
with open(out / "gradient_methods.csv") as f:
    rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]

fig, axes = plt.subplots(2, 3, figsize=(17, 8))
for w, workload in enumerate(WORKLOADS):
    sel = [r for r in rows if int(r["workload"]) == w]
    names = [METHODS[int(r["method"])] for r in sel]
    x = range(len(sel))
    for ax, key, title, log in [
            (axes[w][0], "milliseconds", "time per gradient (ms, median)", True),
            (axes[w][1], "peak_states", "stored states (peak)", False),
            (axes[w][2], "relative_error", "relative error of dL/dθ", True)]:
        values = [max(r[key], 1e-17) if log else r[key] for r in sel]
        ax.bar(x, values, color="tab:blue")
        ax.set_xticks(list(x))
        ax.set_xticklabels(names, fontsize=7)
        if log:
            ax.set_yscale("log")
        ax.set_title(f"{workload}: {title}", fontsize=9)
fig.tight_layout()
fig.savefig(out / "gradient_methods.png", dpi=90)

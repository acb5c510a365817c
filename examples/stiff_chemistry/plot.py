"""Figure of the stiff_chemistry example: ROBER's species on a log time axis, fit vs data."""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path) as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return {k: [float(r[k]) for r in rows] for k in reader.fieldnames}


out = Path(sys.argv[1])
data = read(out / "data.csv")
fit = read(out / "fit.csv")
loss = read(out / "loss.csv")

fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
ax = axes[0]
species = [("y1", 1.0, "tab:blue", "y1"), ("y2", 1e4, "tab:red", "y2 × 1e4"),
           ("y3", 1.0, "tab:green", "y3")]
for key, factor, color, label in species:
    ax.semilogx(fit["t"], [factor * v for v in fit[key]], "-", color=color, label=f"learned {label}")
    ax.semilogx(data["t"], [factor * v for v in data[key]], "o", color=color, ms=4, mfc="none",
                label=f"data {label}")
ax.set_xlabel("t (log scale)")
ax.set_ylabel("concentration")
ax.set_title("ROBER: learned rate constants (kvaerno5) vs noisy data")
ax.legend(fontsize=8, ncol=2)

ax = axes[1]
ax.semilogy(loss["iter"], loss["loss"], color="tab:blue")
ax.set_xlabel("Adam iteration")
ax.set_ylabel("scaled mean squared error")
ax.set_title("Training loss")

fig.tight_layout()
fig.savefig(out / "stiff_chemistry.png", dpi=110)

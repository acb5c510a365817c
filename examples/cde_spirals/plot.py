"""Figure of the cde_spirals example: a few test spirals as observed (missing coordinates left
out), the training loss and test accuracy over training, and the predicted probability of
'clockwise' as each shown spiral's data arrive."""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read(path):
    with open(path) as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return reader.fieldnames, rows


out = Path(sys.argv[1])
_, samples = read(out / "samples.csv")
_, train = read(out / "train.csv")
names, decision = read(out / "decision.csv")

fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
ax = axes[0]
ids = sorted({int(r["sample"]) for r in samples})
colours = plt.cm.tab10(np.linspace(0, 1, 10))
for i, b in enumerate(ids):
    rows = [r for r in samples if int(r["sample"]) == b]
    x = np.array([float(r["x"]) for r in rows])
    y = np.array([float(r["y"]) for r in rows])
    both = ~np.isnan(x) & ~np.isnan(y)
    label = "clockwise" if float(rows[0]["label"]) > 0.5 else "anticlockwise"
    ax.plot(x[both], y[both], "-o", ms=2.5, lw=0.8, color=colours[i % 10], label=f"{b}: {label}")
ax.set_title("test spirals as observed (incomplete points omitted)")
ax.set_aspect("equal")
ax.legend(fontsize=7)

ax = axes[1]
it = np.array([int(r["iteration"]) for r in train])
loss = np.array([float(r["loss"]) for r in train])
k = max(1, len(loss) // 50)
ax.plot(it[k - 1:], np.convolve(loss, np.ones(k) / k, mode="valid"), color="tab:red", label="training loss (BCE)")
ax.set_yscale("log")
ax.set_xlabel("iteration")
ax.set_ylabel("loss")
ax2 = ax.twinx()
acc = [(int(r["iteration"]), float(r["test_accuracy"])) for r in train if r["test_accuracy"]]
ax2.plot([a for a, _ in acc], [b for _, b in acc], "o-", color="tab:blue", label="test accuracy")
ax2.set_ylim(0.4, 1.02)
ax2.set_ylabel("test accuracy")
ax.set_title("training")
lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
ax.legend(lines, [h.get_label() for h in lines], loc="center right", fontsize=8)

ax = axes[2]
t = np.array([float(r["t"]) for r in decision])
for i, name in enumerate(names[1:]):
    p = np.array([float(r[name]) for r in decision])
    ax.plot(t, p, color=colours[i % 10], label=name[1:])
ax.axhline(0.5, color="grey", lw=0.5)
ax.set_xlabel("t (causal path: data up to the knot after t)")
ax.set_ylabel("P(clockwise)")
ax.set_title("the decision forming as observations arrive")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(out / "cde_spirals.png", dpi=110)

"""Figure of the latent_ode example: a few test samples (truth, the observed points, each
model's prediction over [0, 10]; the shaded half is extrapolation), the training losses, and the
table of interpolation / extrapolation errors."""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


out = Path(sys.argv[1])
samples = read(out / "samples.csv")
train = read(out / "train.csv")
metrics = read(out / "metrics.csv")

ids = sorted({int(r["sample"]) for r in samples})
fig = plt.figure(figsize=(16, 8))
grid = fig.add_gridspec(2, max(len(ids), 2))
models = [("latent_ode", "latent ODE", "C0"), ("ode_rnn", "ODE-RNN", "C1"), ("gru", "GRU-Δt", "C2")]
for i, b in enumerate(ids):
    ax = fig.add_subplot(grid[0, i])
    rows = [r for r in samples if int(r["sample"]) == b]
    t = [float(r["t"]) for r in rows]
    ax.axvspan(5, 10, color="0.93")
    ax.plot(t, [float(r["truth"]) for r in rows], "k-", lw=1, label="truth")
    obs = [r for r in rows if r["observed"] == "1"]
    ax.plot([float(r["t"]) for r in obs], [float(r["value"]) for r in obs], "ko", ms=4,
            label="observed")
    for key, name, colour in models:
        ax.plot(t, [float(r[key]) for r in rows], color=colour, lw=1.3, label=name)
    ax.set_title(f"test sample {b}")
    ax.set_xlabel("t")
    if i == 0:
        ax.legend(fontsize=8, loc="upper right")

ax = fig.add_subplot(grid[1, 0])
it = [int(r["iteration"]) for r in train]
for key, name, colour in [("latent_mse", "latent ODE", "C0"), ("odernn_mse", "ODE-RNN", "C1"),
                          ("gru_mse", "GRU-Δt", "C2")]:
    ax.plot(it, [float(r[key]) for r in train], color=colour, lw=0.8, label=name)
ax.set_yscale("log")
ax.set_xlabel("iteration")
ax.set_ylabel("training MSE (batch)")
ax.legend(fontsize=8)

ax = fig.add_subplot(grid[1, 1:])
ax.axis("off")
cells = [[m["model"], f"{float(m['interp_mse']):.5f}", f"{float(m['extrap_mse']):.5f}"]
         for m in metrics]
table = ax.table(cellText=cells, colLabels=["model", "interpolation MSE", "extrapolation MSE"],
                 loc="center")
table.auto_set_font_size(False)
table.set_fontsize(11)
table.scale(1, 2)
ax.set_title("test error (unseen points of [0, 5]; all of (5, 10])")
fig.tight_layout()
fig.savefig(out / "latent_ode.png", dpi=110)

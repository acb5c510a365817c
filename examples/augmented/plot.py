"""Figure of the augmented example: training loss and forward NFE per iteration of the plain and
the augmented neural ODE, the learned flows (test points from t = 0 to T projected on the
readout direction and the main orthogonal one) and each model's prediction over the plane."""
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
    return {k: np.array([float(r[k]) for r in rows]) for k in reader.fieldnames}


def smooth(values, k):
    return np.convolve(values, np.ones(k) / k, mode="valid") if k > 1 else values


out = Path(sys.argv[1])
train = read(out / "train.csv")
names = {"node": "neural ODE", "anode": "augmented (ANODE)"}
colours = {"node": "tab:red", "anode": "tab:blue"}
fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
k = max(1, len(train["iteration"]) // 50)
x = train["iteration"][k - 1:] if k > 1 else train["iteration"]
for tag in ("node", "anode"):
    axes[0][0].plot(x, smooth(train[f"{tag}_loss"], k), color=colours[tag], label=names[tag])
    axes[0][1].plot(x, smooth(train[f"{tag}_forward_nfe"], k), color=colours[tag],
                    label=names[tag])
axes[0][0].set_xlabel("iteration")
axes[0][0].set_yscale("log")
axes[0][0].set_ylabel("MSE (batch, log scale)")
axes[0][0].set_title("training loss")
axes[0][0].legend()
axes[0][1].set_xlabel("iteration")
axes[0][1].set_ylabel("f evaluations")
axes[0][1].set_title("NFE of the forward solve")
axes[0][1].legend()

for col, tag in ((0, "node"), (1, "anode")):
    flow = read(out / f"{tag}_flow.csv")
    ax = axes[1][col]
    times = np.unique(flow["t"])
    for p in np.unique(flow["point"]):
        sel = flow["point"] == p
        ax.plot(flow["u"][sel], flow["v"][sel], lw=0.4, alpha=0.5,
                color="tab:orange" if flow["label"][sel][0] < 0 else "tab:cyan")
    for t, marker, size in ((times[0], "o", 6), (times[-1], "x", 12)):
        sel = flow["t"] == t
        ax.scatter(flow["u"][sel], flow["v"][sel], s=size, marker=marker,
                   c=np.where(flow["label"][sel] < 0, "tab:orange", "tab:cyan"))
    ax.set_xlabel("readout direction W/|W|")
    ax.set_ylabel("main orthogonal direction")
    ax.set_title(f"{names[tag]}: flow of test points (o t = 0, x t = T)")

grids = {tag: read(out / f"{tag}_grid.csv") for tag in ("node", "anode")}
ax = axes[0][2]
flow = read(out / "node_flow.csv")
sel = flow["t"] == 0
ax.scatter(flow["x0"][sel], flow["x1"][sel], s=6,
           c=np.where(flow["label"][sel] < 0, "tab:orange", "tab:cyan"))
ax.set_title("test data (orange −1, cyan +1)")
ax.set_aspect("equal")
ax.set_xlim(-2, 2)
ax.set_ylim(-2, 2)
ax = axes[1][2]
g = grids["node"]
n = int(round(np.sqrt(len(g["x"]))))
ax.imshow(np.clip(g["prediction"].reshape(n, n).T, -1.5, 1.5), origin="lower",
          extent=[g["x"].min(), g["x"].max(), g["y"].min(), g["y"].max()], cmap="RdBu_r",
          vmin=-1.5, vmax=1.5, alpha=0.5)
for tag, style in (("node", "--"), ("anode", "-")):
    g = grids[tag]
    n = int(round(np.sqrt(len(g["x"]))))
    ax.contour(g["x"].reshape(n, n), g["y"].reshape(n, n), g["prediction"].reshape(n, n),
               levels=[0.0], colors=colours[tag], linestyles=style)
    ax.plot([], [], style, color=colours[tag], label=f"{names[tag]}: prediction = 0")
ax.scatter(flow["x0"][sel], flow["x1"][sel], s=4, alpha=0.5,
           c=np.where(flow["label"][sel] < 0, "tab:orange", "tab:cyan"))
ax.set_aspect("equal")
ax.set_xlim(-2, 2)
ax.set_ylim(-2, 2)
ax.legend(loc="upper right", fontsize=8)
ax.set_title("decision boundaries (shading: neural ODE prediction)")
fig.tight_layout()
fig.savefig(out / "augmented.png", dpi=100)

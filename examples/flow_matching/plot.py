"""Figure of the flow_matching example: for each task and pairing, trajectories of a few
samples from t = 0 to 1, the one-Euler-step and dopri5 samples against the target, and the
training loss."""
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


out = Path(sys.argv[1])
tags = sorted(p.name[: -len("_train.csv")] for p in out.glob("*_train.csv"))
if not tags:
    sys.exit("no *_train.csv in " + str(out))
fig, axes = plt.subplots(len(tags), 4, figsize=(18, 4.2 * len(tags)), squeeze=False)
for row, tag in enumerate(tags):
    train = read(out / f"{tag}_train.csv")
    samp = read(out / f"{tag}_samples.csv")
    traj = read(out / f"{tag}_trajectories.csv")
    ax = axes[row][0]
    ax.scatter(samp["source_x"], samp["source_y"], s=2, color="0.7", label="source")
    ax.scatter(samp["target_x"], samp["target_y"], s=2, color="k", alpha=0.3, label="target")
    for j in np.unique(traj["sample"]):
        m = traj["sample"] == j
        ax.plot(traj["x"][m], traj["y"][m], color="tab:olive", lw=0.8)
        ax.scatter(traj["x"][m][-1:], traj["y"][m][-1:], s=6, color="tab:blue")
    ax.set_title(f"{tag}: trajectories (dopri5)")
    ax = axes[row][1]
    ax.scatter(samp["target_x"], samp["target_y"], s=2, color="k", alpha=0.3)
    ax.scatter(samp["euler1_x"], samp["euler1_y"], s=2, color="tab:red")
    ax.set_title("one Euler step (red) vs target")
    ax = axes[row][2]
    ax.scatter(samp["target_x"], samp["target_y"], s=2, color="k", alpha=0.3)
    ax.scatter(samp["adaptive_x"], samp["adaptive_y"], s=2, color="tab:blue")
    ax.set_title("dopri5 (blue) vs target")
    for a in axes[row][:3]:
        a.set_xlim(-5, 5)
        a.set_ylim(-5, 5)
        a.set_aspect("equal")
    ax = axes[row][3]
    k = max(1, len(train["loss"]) // 100)
    ax.plot(np.convolve(train["loss"], np.ones(k) / k, mode="valid"), color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("CFM loss (mean over samples of the squared norm)")
    ax.set_title("training")
fig.tight_layout()
fig.savefig(out / "flow_matching.png", dpi=110)

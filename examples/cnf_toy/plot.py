"""Figure of the cnf_toy example: for each data set and run, the data, the learned density
(heat map), samples of the flow, and the training loss and NFE per iteration."""
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
    dens = read(out / f"{tag}_density.csv")
    samp = read(out / f"{tag}_samples.csv")
    ax = axes[row][0]
    ax.scatter(samp["data_x"], samp["data_y"], s=2, color="k")
    ax.set_title(f"{tag}: data")
    ax = axes[row][1]
    n = int(round(np.sqrt(len(dens["x"]))))
    p = np.exp(dens["logp"]).reshape(n, n).T
    ax.imshow(p, origin="lower", extent=[-4, 4, -4, 4], cmap="viridis")
    ax.set_title("learned density")
    ax = axes[row][2]
    ax.scatter(samp["model_x"], samp["model_y"], s=2, color="tab:blue")
    ax.set_title("samples of the flow")
    for a in axes[row][:3]:
        a.set_xlim(-4, 4)
        a.set_ylim(-4, 4)
        a.set_aspect("equal")
    ax = axes[row][3]
    k = max(1, len(train["nll"]) // 100)
    smooth = np.convolve(train["nll"], np.ones(k) / k, mode="valid")
    ax.plot(smooth, color="tab:blue", label="train NLL (nats)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("NLL")
    ax2 = ax.twinx()
    ax2.plot(np.convolve(train["nfe"], np.ones(k) / k, mode="valid"), color="tab:red",
             label="NFE per iteration")
    ax2.set_ylabel("NFE", color="tab:red")
    ax.set_title("training")
fig.tight_layout()
fig.savefig(out / "cnf_toy.png", dpi=110)

"""Figure of the irregular_time_series example: data, truth, fits and extrapolation; loss curves."""
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
obs = read(out / "observations.csv")
traj = read(out / "trajectory.csv")
loss = read(out / "loss.csv")
t_train = traj["t"][-1] / 2

fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), gridspec_kw={"width_ratios": [2.2, 1, 1]})
ax = axes[0]
ax.axvspan(t_train, traj["t"][-1], color="0.93", label="extrapolation")
ax.plot(traj["t"], traj["true1"], "k-", lw=1.5, label="true x")
ax.plot(traj["t"], traj["neural1"], "b--", lw=1.5, label="neural ODE")
ax.plot(traj["t"], traj["linear1"], "r:", lw=1.2, label="linear ODE")
ax.plot(obs["t"], obs["y1"], "o", ms=3.5, color="tab:orange", label="observations")
ax.set_xlabel("t")
ax.set_ylabel("x = y1")
ax.set_title("Position: fit on [0, T], extrapolation to 2T")
ax.legend(fontsize=8, loc="upper right", ncol=2)

ax = axes[1]
ax.plot(traj["true1"], traj["true2"], "k-", lw=1.2, label="true")
ax.plot(traj["neural1"], traj["neural2"], "b--", lw=1.2, label="neural ODE")
ax.plot(obs["y1"], obs["y2"], "o", ms=3, color="tab:orange", label="observations")
ax.set_xlabel("y1")
ax.set_ylabel("y2")
ax.set_title("Phase portrait on [0, 2T]")
ax.legend(fontsize=8)

ax = axes[2]
ax.semilogy(loss["iter"], loss["neural_mse"], "b-", label="neural ODE")
ax.semilogy(loss["iter"], loss["linear_mse"], "r-", label="linear ODE")
ax.set_xlabel("iteration")
ax.set_title("MSE at all observation times")
ax.legend(fontsize=8)

fig.tight_layout()
fig.savefig(out / "irregular_time_series.png", dpi=80)

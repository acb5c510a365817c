"""Figure of the lagrangian example: true-energy error of long rollouts (LNN vs baseline),
the first test trajectory, and the training losses."""
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
energy = read(out / "energy.csv")
traj = read(out / "trajectory.csv")
loss = read(out / "loss.csv")

fig, axes = plt.subplots(1, 4, figsize=(20, 4.4))
ax = axes[0]
# t = 0 is left out: both errors are exactly 0 there.
ax.semilogy(energy["t"][1:], energy["mean_abs_error_lnn"][1:], color="tab:blue", label="LNN")
ax.semilogy(energy["t"][1:], energy["mean_abs_error_baseline"][1:], color="tab:red", label="baseline network")
ax.set_xlabel("t (s)")
ax.set_ylabel("mean |E(t) − E(0)| over test states (J)")
ax.set_title("True-energy error of rk4 rollouts")
ax.legend(fontsize=8)

ax = axes[1]
ax.plot(energy["t"], energy["truth_test0"], "k-", label="truth")
ax.plot(energy["t"], energy["lnn_test0"], color="tab:blue", label="LNN")
ax.plot(energy["t"], energy["baseline_test0"], color="tab:red", label="baseline")
ax.set_xlabel("t (s)")
ax.set_ylabel("true energy (J)")
ax.set_title("Energy along test trajectory 0")
ax.legend(fontsize=8)

ax = axes[2]
ax.plot(traj["t"], traj["truth_q1"], "k-", lw=2, label="truth θ1")
ax.plot(traj["t"], traj["lnn_q1"], "--", color="tab:blue", label="LNN θ1")
ax.plot(traj["t"], traj["baseline_q1"], ":", color="tab:red", label="baseline θ1")
ax.plot(traj["t"], traj["truth_q2"], "-", color="gray", lw=2, label="truth θ2")
ax.plot(traj["t"], traj["lnn_q2"], "--", color="tab:cyan", label="LNN θ2")
ax.plot(traj["t"], traj["baseline_q2"], ":", color="tab:orange", label="baseline θ2")
ax.set_xlabel("t (s)")
ax.set_ylabel("angle (rad)")
ax.set_title("Test trajectory 0")
ax.legend(fontsize=7, ncol=2)

ax = axes[3]
ax.semilogy(loss["step"], loss["lnn"], color="tab:blue", lw=0.8, label="LNN")
ax.semilogy(loss["step"], loss["baseline"], color="tab:red", lw=0.8, label="baseline")
ax.set_xlabel("Adam step")
ax.set_ylabel("acceleration MSE (batch)")
ax.set_title("Training loss")
ax.legend(fontsize=8)

fig.tight_layout()
fig.savefig(out / "lagrangian.png", dpi=120)

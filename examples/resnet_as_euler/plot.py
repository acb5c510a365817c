"""Figure of the resnet_as_euler example: hidden states against the ODE flow, error against K,
and error against function evaluations for Euler (the ResNet), RK4 and an adaptive method."""
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
traj = read(out / "trajectories.csv")
conv = read(out / "convergence.csv")
rk4 = read(out / "rk4.csv")
adaptive = read(out / "adaptive.csv")
summary = read(out / "summary.csv")
slope = summary["slope"][0]
first = summary["first_fitted_blocks"][0]

fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
ax = axes[0]
samples = sorted(set(int(s) for s in traj["sample"]))
shown = samples[:: max(1, len(samples) // 12)]
blocks = None
for s in shown:
    ode = [i for i, (r, j) in enumerate(zip(traj["resnet"], traj["sample"])) if r == 0 and j == s]
    net = [i for i, (r, j) in enumerate(zip(traj["resnet"], traj["sample"])) if r == 1 and j == s]
    blocks = len(net) - 1
    ax.plot([traj["y1"][i] for i in ode], [traj["y2"][i] for i in ode], "k-", lw=1)
    ax.plot([traj["y1"][i] for i in net], [traj["y2"][i] for i in net], "o--", color="tab:red", ms=3, lw=0.8)
ax.plot([], [], "k-", label="ODE solution (dopri5)")
ax.plot([], [], "o--", color="tab:red", label=f"hidden states h_k of the {blocks}-block ResNet")
ax.set_title("ResNet blocks = Euler steps")
ax.set_xlabel("h1")
ax.set_ylabel("h2")
ax.legend(fontsize=8)

ax = axes[1]
ax.loglog(conv["blocks"], conv["error"], "o-", color="tab:red", label="K-block ResNet (forward Euler)")
fitted = [(k, e) for k, e in zip(conv["blocks"], conv["error"]) if k >= first]
k0, e0 = fitted[0]
ax.loglog([k for k, _ in fitted], [e0 * (k / k0) ** slope for k, _ in fitted], "k:", label=f"fit: slope {slope:.3f}")
ax.set_title("Error at T against depth K")
ax.set_xlabel("K (blocks)")
ax.set_ylabel("max |h_K - y(T)|")
ax.legend(fontsize=8)

ax = axes[2]
ax.loglog(conv["blocks"], conv["error"], "o-", color="tab:red", label="Euler / ResNet")
ax.loglog(rk4["nfe"], rk4["error"], "s-", color="tab:blue", ms=3, label="RK4 (constant step)")
ax.loglog(adaptive["nfe"], adaptive["error"], "^-", color="tab:green", ms=4, label="adaptive (rtol 1e-1 .. 1e-10)")
ax.set_title("Work against accuracy")
ax.set_xlabel("function evaluations (network passes)")
ax.set_ylabel("max error at T")
ax.legend(fontsize=8)

fig.tight_layout()
fig.savefig(out / "resnet_as_euler.png", dpi=80)

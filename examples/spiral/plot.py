"""Figure of the spiral example: trajectories over time, phase portrait, learned field."""
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
traj = read(out / "trajectory.csv")
field = read(out / "field.csv")
loss = read(out / "loss.csv")

fig, axes = plt.subplots(1, 5, figsize=(25, 4.6))
ax = axes[0]
ax.plot(traj["t"], traj["y1"], "g-", label="true y1")
ax.plot(traj["t"], traj["y2"], "b-", label="true y2")
ax.plot(traj["t"], traj["pred1"], "g--", label="learned y1")
ax.plot(traj["t"], traj["pred2"], "b--", label="learned y2")
ax.set_title("Trajectories")
ax.set_xlabel("t")
ax.legend(fontsize=8)

ax = axes[1]
ax.plot(traj["y1"], traj["y2"], "g-", label="true")
ax.plot(traj["pred1"], traj["pred2"], "b--", label="learned")
ax.set_title("Phase portrait")
ax.set_xlabel("y1")
ax.set_ylabel("y2")
ax.set_xlim(-2, 2)
ax.set_ylim(-2, 2)
ax.legend(fontsize=8)

# The two fields side by side on one scale: overlaid, the learned arrows hid the true ones.
scale = max(max(abs(u) for u in field["true_u"] + field["true_v"]), 1e-12) * 12
for ax, (key, colour, title) in zip(
        axes[2:4], [("true", "k", "True vector field"), ("learned", "b", "Learned vector field")]):
    ax.quiver(field["y1"], field["y2"], field[key + "_u"], field[key + "_v"], color=colour,
              scale=scale)
    ax.plot(traj["y1"], traj["y2"], "g-", lw=0.8, alpha=0.5, label="true trajectory")
    ax.set_title(title)
    ax.set_xlim(-2.1, 2.1)
    ax.set_ylim(-2.1, 2.1)
    ax.legend(fontsize=8, loc="upper right")

ax = axes[4]
ax.semilogy(loss["iter"], loss["test_loss"], "k-")
ax.set_title("Test loss (mean |error|)")
ax.set_xlabel("iteration")

fig.tight_layout()
fig.savefig(out / "spiral.png", dpi=90)

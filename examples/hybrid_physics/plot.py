"""Figure of the hybrid_physics example: test error vs training-set size; learned friction."""
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
errors = read(out / "errors.csv")
friction = read(out / "friction.csv")
loss = read(out / "loss.csv")
sizes = [int(n) for n in errors["trajectories"]]

fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
ax = axes[0]
ax.loglog(sizes, errors["hybrid"], "o-", color="tab:blue", label="hybrid: gravity + network")
ax.loglog(sizes, errors["pure"], "s-", color="tab:red", label="pure network")
ax.set_xticks(sizes)
ax.set_xticklabels([str(n) for n in sizes])
ax.minorticks_off()
ax.set_xlabel("training trajectories")
ax.set_ylabel("test RMS error (unseen initial states)")
ax.set_title("Test error vs training-set size")
ax.legend(fontsize=8)

ax = axes[1]
ax.plot(friction["omega"], friction["true"], "k-", lw=2, label="true friction")
smallest, largest = sizes[0], sizes[-1]
ax.plot(friction["omega"], friction[f"hybrid_{largest}"], "--", color="tab:blue", label=f"hybrid, {largest} traj.")
ax.plot(friction["omega"], friction[f"pure_{largest}"], "--", color="tab:red", label=f"pure, {largest} traj.")
if smallest != largest:
    ax.plot(friction["omega"], friction[f"hybrid_{smallest}"], ":", color="tab:blue", label=f"hybrid, {smallest} traj.")
    ax.plot(friction["omega"], friction[f"pure_{smallest}"], ":", color="tab:red", label=f"pure, {smallest} traj.")
ax.set_xlabel("angular velocity ω (θ = 0)")
ax.set_ylabel("friction = −(learned ω′) at θ = 0")
ax.set_title("Learned friction vs true")
ax.legend(fontsize=8)

ax = axes[2]
window = 25  # running mean: the batch loss is noisy


def smooth(values):
    out_values, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out_values.append(total / min(i + 1, window))
    return out_values


ax.semilogy(loss["iter"], smooth(loss["hybrid"]), color="tab:blue", label="hybrid")
ax.semilogy(loss["iter"], smooth(loss["pure"]), color="tab:red", label="pure")
ax.set_xlabel("iteration")
ax.set_title(f"Batch loss, {largest} trajectories (running mean)")
ax.legend(fontsize=8)

fig.tight_layout()
fig.savefig(out / "hybrid_physics.png", dpi=80)

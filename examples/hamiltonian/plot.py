"""Figure of the hamiltonian example: phase portraits, energy over time and training loss of an
HNN and a baseline network on the mass-spring and pendulum tasks (Greydanus et al. 2019)."""
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
systems = [("mass_spring", "Mass-spring, H = q² + p²"), ("pendulum", "Pendulum, H = 3(1 − cos q) + p²")]
fig, axes = plt.subplots(2, 4, figsize=(20, 9))
for row, (name, title) in enumerate(systems):
    roll = read(out / f"{name}_rollout.csv")
    loss = read(out / f"{name}_loss.csv")

    ax = axes[row][0]
    ax.plot(roll["q_true"], roll["p_true"], "k-", lw=2, label="ground truth")
    ax.plot(roll["q_hnn"], roll["p_hnn"], "-", color="tab:blue", lw=1, label="HNN")
    ax.plot(roll["q_baseline"], roll["p_baseline"], "-", color="tab:red", lw=1, label="baseline")
    ax.set_xlabel("q")
    ax.set_ylabel("p")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"{title}: one test trajectory, t ∈ [0, {roll['t'][-1]:.0f}]")
    ax.legend(fontsize=8)

    ax = axes[row][1]
    ax.plot(roll["t"], roll["energy_true"], "k-", lw=2, label="ground truth")
    ax.plot(roll["t"], roll["energy_hnn"], "-", color="tab:blue", label="HNN")
    ax.plot(roll["t"], roll["energy_baseline"], "-", color="tab:red", label="baseline")
    ax.set_xlabel("t")
    ax.set_ylabel("true energy H(q, p) along the rollout")
    ax.set_title("Energy over time (same trajectory)")
    ax.legend(fontsize=8)

    ax = axes[row][2]
    ax.semilogy(roll["t"][1:], roll["energy_mse_hnn"][1:], "-", color="tab:blue", label="HNN")
    ax.semilogy(roll["t"][1:], roll["energy_mse_baseline"][1:], "-", color="tab:red",
                label="baseline")
    ax.set_xlabel("t")
    ax.set_ylabel("energy MSE over the test trajectories")
    ax.set_title("Energy error vs time (all test trajectories)")
    ax.legend(fontsize=8)

    ax = axes[row][3]
    ax.semilogy(loss["step"], loss["hnn"], "-", color="tab:blue", alpha=0.8, label="HNN")
    ax.semilogy(loss["step"], loss["baseline"], "-", color="tab:red", alpha=0.8, label="baseline")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("dx/dt MSE (training batch)")
    ax.set_title("Training loss")
    ax.legend(fontsize=8)

fig.tight_layout()
fig.savefig(out / "hamiltonian.png", dpi=110)
print(f"wrote {out / 'hamiltonian.png'}")

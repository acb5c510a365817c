"""Figure of the symplectic_energy example: max |H - H0| per period vs time, both systems."""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

out = Path(sys.argv[1])
with open(out / "energy.csv") as f:
    reader = csv.DictReader(f)
    rows = list(reader)
data = {k: [float(r[k]) for r in rows] for k in reader.fieldnames}
periods = data["period"]

styles = {
    "leapfrog": ("tab:blue", "leapfrog (Störmer–Verlet, order 2)"),
    "forest_ruth": ("tab:green", "Forest–Ruth (symplectic, order 4)"),
    "rk4": ("tab:orange", "rk4"),
    "dopri5": ("tab:red", "dopri5 (constant step)"),
}
titles = {"harmonic": "Harmonic oscillator", "kepler": "Kepler, eccentricity 0.6"}
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
for ax, system in zip(axes, ["harmonic", "kepler"]):
    for method, (color, label) in styles.items():
        key = f"{system}_{method}"
        if key in data:
            values = [max(v, 1e-17) for v in data[key]]
            ax.loglog(periods, values, color=color, label=label, lw=1.2)
    ax.set_xlabel("period")
    ax.set_ylabel("max |H − H₀| within the period")
    ax.set_title(f"{titles[system]}: equal force evaluations per period")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "symplectic_energy.png", dpi=130)

"""Figure of the numerics example: order of accuracy, NFE against tolerance, NFE per initial
state, and the spectrum of the neural field against the chosen method's stability region."""
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
order = read(out / "order.csv")
tolerance = read(out / "tolerance.csv")
samples = read(out / "samples.csv")
spectrum = read(out / "spectrum.csv")
region = read(out / "region.csv")
check = read(out / "check.csv")
summary = {k: v[0] for k, v in read(out / "summary.csv").items()}
solver = (out / "solver.txt").read_text().strip()

fig, axes = plt.subplots(1, 4, figsize=(21, 4.9))
ax = axes[0]
for theory, name, colour in [(1, "euler", "tab:red"), (4, "rk4", "tab:blue"), (5, "dopri5", "tab:green")]:
    rows = [i for i, o in enumerate(order["order"]) if o == theory]
    fitted = summary[f"{name}_order"]
    ax.loglog([order["dt"][i] for i in rows], [order["error"][i] for i in rows], "o-", color=colour,
              label=f"{name}: slope {fitted:.2f} (theory {theory})")
ax.set_title("(a) Order of accuracy (constant steps)")
ax.set_xlabel("step size")
ax.set_ylabel("max error at t = 4")
ax.legend(fontsize=8)

ax = axes[1]
for name, marker in [("dopri5", "o"), ("tsit5", "s"), ("bosh3", "^")]:
    ax.loglog(tolerance["rtol"], tolerance[f"{name}_nfe"], marker + "-", label=name)
ax.invert_xaxis()
ax.set_title("(b) Work against tolerance (neural field)")
ax.set_xlabel("rtol (atol = rtol / 100)")
ax.set_ylabel("function evaluations")
ax.legend(fontsize=8)

ax = axes[2]
points = ax.scatter(samples["y1"], samples["y2"], c=samples["nfe"], cmap="viridis", s=14)
fig.colorbar(points, ax=ax, label="NFE (dopri5, rtol 1e-6)")
ax.plot([summary["equilibrium_y1"]], [summary["equilibrium_y2"]], "r*", ms=12, label="equilibrium y*")
ax.legend(fontsize=7, loc="lower left")
nfe = samples["nfe"]
ax.set_title(f"(b) NFE per initial state: {min(nfe):.0f}..{max(nfe):.0f}, mean {sum(nfe) / len(nfe):.0f};\n"
             f"one batched solve: {summary['batch_nfe']:.0f}", fontsize=10)
ax.set_xlabel("y1(0)")
ax.set_ylabel("y2(0)")
ax.set_aspect("equal")

ax = axes[3]
xs = sorted(set(region["re"]))
ys = sorted(set(region["im"]))
grid = [[0.0] * len(xs) for _ in ys]
for x, y, r in zip(region["re"], region["im"], region["abs_r"]):
    grid[ys.index(y)][xs.index(x)] = r
ax.contourf(xs, ys, grid, levels=[0, 1], colors=["#cfe3f5"])
ax.contour(xs, ys, grid, levels=[1], colors=["tab:blue"], linewidths=1)
h_max = summary["h_max"]
z = ax.scatter([h_max * r for r in spectrum["re"]], [h_max * i for i in spectrum["im"]], c=spectrum["t"], s=8,
               cmap="plasma", label="h_max * eigenvalues of df/dy")
ax.plot([h_max * summary["binding_re"]], [h_max * summary["binding_im"]], "kx", ms=9, label="binding eigenvalue")
fig.colorbar(z, ax=ax, label="t on the trajectory")
ax.axhline(0, color="0.7", lw=0.5)
ax.axvline(0, color="0.7", lw=0.5)
ax.set_title(f"(c) {solver}: |R(z)| <= 1 and the spectrum, h_max = {h_max:.4f}", fontsize=10)
ax.set_xlabel("Re z")
ax.set_ylabel("Im z")
ax.set_aspect("equal")
ax.legend(fontsize=7, loc="lower left")

inset = ax.inset_axes([0.08, 0.6, 0.25, 0.33])
for factor, colour in [(0.95, "tab:green"), (1.05, "tab:red")]:
    rows = [i for i, f in enumerate(check["factor"]) if abs(f - factor) < 1e-9]
    inset.semilogy([check["t"][i] for i in rows], [check["deviation"][i] for i in rows], color=colour, lw=1,
                   label=f"{factor} h_max")
inset.set_title("|y - y*|, constant step", fontsize=7)
inset.tick_params(labelsize=6)
inset.legend(fontsize=6)

fig.tight_layout()
fig.savefig(out / "numerics.png", dpi=80)

#!/usr/bin/env bash
# Compares the benchmarks of the working tree with those of another commit, measured in the
# same run: builds both (Release), then runs each program of each side in turn, twice,
# interleaved, and prints CPU-time medians and the ratio new / old per benchmark.
# Usage: scripts/compare-benchmarks.sh [REV (default: HEAD~1)] [--filter REGEX] [--repetitions N]
set -euo pipefail
cd "$(dirname "$0")/.."
rev="HEAD~1"
filter='w1_forward|w2_gradient|w3_|w4_forward|w4_gradient'
reps=5
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) filter="$2"; shift 2 ;;
    --repetitions) reps="$2"; shift 2 ;;
    -*) echo "compare-benchmarks: unknown option $1" >&2; exit 2 ;;
    *) rev="$1"; shift ;;
  esac
done
scripts/install-deps.sh bench
root="$PWD"
old="$root/build/compare-old"
out="$root/build/compare-results"
mkdir -p "$out"
if [ ! -d "$old/src" ]; then git worktree add --detach "$old/src" "$rev" >/dev/null; fi
git -C "$old/src" checkout --detach -q "$rev"
for side in new old; do
  src="$root"; [ "$side" = old ] && src="$old/src"
  cmake -S "$src" -B "$root/build/compare-$side-build" -DCMAKE_BUILD_TYPE=Release \
    -DNDE_BUILD_TESTS=OFF -DNDE_BUILD_EXAMPLES=OFF -DNDE_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$root/build/compare-$side-build" -j2 --target bench_spiral bench_wide >/dev/null
done
for round in 1 2; do
  for side in old new; do
    for program in bench_spiral bench_wide; do
      echo "compare-benchmarks: round $round, $side, $program"
      "$root/build/compare-$side-build/benchmarks/$program" --benchmark_filter="$filter" \
        --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
        --benchmark_format=json >"$out/$side-$program-$round.json" 2>/dev/null
    done
  done
done
python3 - "$out" <<'PY'
import collections, glob, json, statistics, sys
times = collections.defaultdict(lambda: collections.defaultdict(list))
for path in glob.glob(sys.argv[1] + "/*.json"):
    side = path.rsplit("/", 1)[-1].split("-")[0]
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            times[b["run_name"]][side].append((b["cpu_time"], b["time_unit"], b.get("nfe_forward", b.get("nfe"))))
print("| benchmark | old (CPU) | new (CPU) | new / old | NFE old → new |")
print("|---|---|---|---|---|")
for name in sorted(times):
    o, n = times[name]["old"], times[name]["new"]
    if not o or not n:
        continue
    mo, mn = statistics.median(t for t, _, _ in o), statistics.median(t for t, _, _ in n)
    print(f"| {name} | {mo:.4g} {o[0][1]} | {mn:.4g} {n[0][1]} | {mn / mo:.3f} | {o[0][2]} → {n[0][2]} |")
PY

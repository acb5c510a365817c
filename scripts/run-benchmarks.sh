#!/usr/bin/env bash
# Builds nde in Release and runs the benchmark suite (benchmarks/bench_*.cpp), writing one
# Google Benchmark JSON file per program and a markdown table (medians, ratios against the peer
# and the lower bound, machine details) to the output directory.
#
#   scripts/run-benchmarks.sh [--smoke] [--native] [--repetitions N] [--out DIR] [--filter REGEX]
#
#   --smoke         each benchmark once at minimum size (NDE_BENCH_SMOKE=1); for CI, < 3 min.
#   --repetitions   repetitions per benchmark, medians reported (default 5).
#   --out           output directory (default build/bench-release/results).
#   --filter        only benchmarks matching REGEX (Google Benchmark --benchmark_filter).
#   --native        compile with -march=native (NDE_NATIVE_ARCH=ON; build/bench-native).
#   --build DIR     run the benchmarks of an existing, configured build tree (e.g. build/release
#                   after `cmake --workflow --preset release`) instead of configuring one: CI
#                   reuses the release build rather than compiling every benchmark twice.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
repetitions=5
out=""
filter="."
build=build/bench-release
native=OFF
existing=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --repetitions) repetitions="$2"; shift ;;
    --out) out="$2"; shift ;;
    --filter) filter="$2"; shift ;;
    --native) native=ON; build=build/bench-native ;;
    --build) existing="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run-benchmarks.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ -n $existing ]]; then
  if [[ ! -f $existing/CMakeCache.txt ]]; then
    echo "run-benchmarks.sh: --build $existing is not a configured build tree" >&2
    exit 2
  fi
  if ! grep -q '^NDE_BUILD_BENCHMARKS:BOOL=ON' "$existing/CMakeCache.txt"; then
    echo "run-benchmarks.sh: --build $existing was configured without NDE_BUILD_BENCHMARKS=ON" >&2
    exit 2
  fi
  build="$existing"
fi
out="${out:-$build/results}"

scripts/install-deps.sh bench
jobs="${NDE_BUILD_JOBS:-2}"
if [[ -z $existing ]]; then
  cmake --preset release -B "$build" -DNDE_BUILD_EXAMPLES=OFF -DNDE_NATIVE_ARCH="$native" >/dev/null
fi
cmake --build "$build" -j "$jobs"
mkdir -p "$out"
rm -f "$out"/*.json

args=(--benchmark_filter="$filter" --benchmark_out_format=json --benchmark_counters_tabular=false)
if [[ $smoke == 1 ]]; then
  export NDE_BENCH_SMOKE=1
  args+=(--benchmark_min_time=0)
else
  args+=(--benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true)
fi

shopt -s nullglob
programs=("$build"/benchmarks/bench_*)
if [[ ${#programs[@]} -eq 0 ]]; then
  echo "run-benchmarks.sh: no benchmark programs were built (is libbenchmark-dev installed?)" >&2
  exit 1
fi
for program in "${programs[@]}"; do
  [[ -x $program && -f $program ]] || continue
  name=$(basename "$program")
  echo "== $name"
  "$program" "${args[@]}" --benchmark_out="$out/$name.json"
done

compiler=$(grep -E '^CMAKE_CXX_COMPILER:' "$build/CMakeCache.txt" | cut -d= -f2)
export NDE_BENCH_COMPILER="$("$compiler" --version | head -n1)"
export NDE_BENCH_FLAGS="CMAKE_BUILD_TYPE=Release ($(grep -E '^CMAKE_CXX_FLAGS_RELEASE:' "$build/CMakeCache.txt" | cut -d= -f2) $(grep -E '^CMAKE_CXX_FLAGS:' "$build/CMakeCache.txt" | cut -d= -f2))"
python3 scripts/benchmarks_to_markdown.py "$out"/*.json > "$out/benchmarks.md"
echo
cat "$out/benchmarks.md"
echo
echo "JSON: $out/*.json; table: $out/benchmarks.md"

#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset, clang) and runs each for a fixed
# time on a copy of its committed seed corpus (fuzz/corpus/<name>/), so the tree
# stays clean. Exits non-zero if any target finds a crash, leak, timeout or
# sanitizer error; crashing inputs are kept under <build dir>/artifacts/<name>/.
#
# Usage: scripts/fuzz.sh [seconds per target, default 20] [target names...]
# Environment: NDE_FUZZ_BUILD_DIR (default build/fuzz), NDE_FUZZ_JOBS (default 2),
# NDE_FUZZ_SEED (libFuzzer -seed, default 1: CI runs are repeatable; set another value, or 0
# for a random one, and a longer time to search further).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(parameter_file npy npz layout); fi
build=${NDE_FUZZ_BUILD_DIR:-$root/build/fuzz}

cd "$root"
cmake --preset fuzz -B "$build" >/dev/null
cmake --build "$build" -j "${NDE_FUZZ_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

work=$(mktemp -d "${TMPDIR:-/tmp}/nde-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for name in "${targets[@]}"; do
  corpus="$work/corpus/$name"
  artifacts="$build/artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  cp -R "$root/fuzz/corpus/$name/." "$corpus/"
  echo "== fuzz_$name: ${seconds}s on $(ls "$corpus" | wc -l) seeds"
  if "$build/fuzz/fuzz_$name" -seed="${NDE_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$work/$name.log" 2>&1; then
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|cov:" "$work/$name.log" | tail -4
    echo "   corpus grew to $(ls "$corpus" | wc -l) inputs"
  else
    tail -40 "$work/$name.log"
    echo "!! fuzz_$name FAILED; reproducer(s) in $artifacts"
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzzing failed: ${failed[*]}"
  exit 1
fi
echo "fuzzing passed: ${targets[*]}"

#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build the examples in Release and run
# the main demo, which prints its progress and writes its data and figure under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build examples
echo "nde: building the examples (cmake --preset release)"
cmake --preset release -DNDE_BUILD_BENCHMARKS=OFF >/dev/null
main_example=${NDE_MAIN_EXAMPLE:-spiral}
cmake --build --preset release --target "$main_example"
mkdir -p out
echo "nde: running examples/$main_example (output in out/$main_example)"
"build/release/examples/$main_example/$main_example" --out "out/$main_example" "$@"

#!/usr/bin/env bash
# Command 2 of the README: install what is missing, then configure, build and run the
# whole test suite with the development preset (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
echo "nde: configure + build + test (cmake --workflow --preset dev)"
cmake --workflow --preset dev

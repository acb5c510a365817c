#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages nde needs, only those that are missing.
# Usage: scripts/install-deps.sh [build|test|ci|examples|bench]...   (default: test)
set -euo pipefail

want=(g++ cmake make libeigen3-dev)
for group in "${@:-test}"; do
  case "$group" in
    build) ;;
    test) want+=(catch2 zlib1g-dev) ;;
    examples) want+=(python3-matplotlib) ;;
    bench) want+=(libbenchmark-dev libboost-dev python3) ;;
    ci) want+=(catch2 libbenchmark-dev libboost-dev python3 clang clang-format clang-tidy doxygen libclang-rt-dev pkg-config zlib1g-dev python3-numpy libjs-mathjax) ;;
    *) echo "install-deps: unknown group '$group'" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "nde: all needed packages are installed (${want[*]})"
  exit 0
fi

echo "nde: installing missing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

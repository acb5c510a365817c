#!/usr/bin/env bash
# Checks that every C++ source follows .clang-format (clang-format 14).
# With --fix, reformats the files in place instead.
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format-14 || command -v clang-format || true)
[ -n "$fmt" ] || { echo "format-check: clang-format not found (Debian: clang-format)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.hpp' '*.cpp' '*.h' '*.cc')
[ ${#files[@]} -gt 0 ] || { echo "format-check: no sources"; exit 0; }
if [ "${1:-}" = "--fix" ]; then
  "$fmt" -i "${files[@]}"
  echo "format-check: reformatted ${#files[@]} files"
else
  "$fmt" --dry-run --Werror "${files[@]}"
  echo "format-check: ${#files[@]} files follow .clang-format"
fi

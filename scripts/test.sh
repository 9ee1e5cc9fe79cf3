#!/usr/bin/env bash
# Run every test file with node's test runner (prints the closing summary CI reads).
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob
files=(src/**/*.test.ts test/**/*.test.ts)
if [ $# -gt 0 ]; then files=("$@"); fi
exec node --import tsx --test --test-concurrency=2 --test-timeout=600000 "${files[@]}"

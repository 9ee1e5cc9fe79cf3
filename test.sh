#!/usr/bin/env bash
# Quick start, command 2: the whole test suite (unit, integration as root, docker CLI compat).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec bash scripts/test.sh "$@"

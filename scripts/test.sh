#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Swift installed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test
swift build --build-tests
exec swift test --skip-build

#!/usr/bin/env bash
# The demo: the real service on librdkafka's in-process mock cluster, no broker needed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
swift build -c release --product credit-meter
exec .build/release/credit-meter demo "$@"

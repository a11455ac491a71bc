#!/usr/bin/env bash
# The HTTP API against its description, on a live service with data: starts the release binary's
# demo with --serve (the real service and HTTP server on librdkafka's mock cluster, a workload of
# accounts, a token) on a free port, waits until it is ready and serves the example account, then
#   1. schemathesis runs every operation of docs/openapi.json against it — no server error, every
#      status code, content type, header and body as described, other methods 405 with Allow,
#      invalid input rejected, the token enforced;
#   2. promtool (Debian's prometheus package, unpacked here, nothing installed) checks /metrics,
#      and the families operators rely on are there.
# Exits non-zero on any failure. Options: --max-examples N (default 100), --seed N (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
max_examples=100
seed=1
while [ $# -gt 0 ]; do
    case "$1" in
        --max-examples) max_examples=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        *) echo "usage: $0 [--max-examples N] [--seed N]" >&2; exit 64 ;;
    esac
done
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# Tools.
schemathesis_version=4.32.5
if ! schemathesis --version 2>/dev/null | grep -q "$schemathesis_version"; then
    python3 -m pip install --quiet "schemathesis==$schemathesis_version" 2>/dev/null \
        || $SUDO python3 -m pip install --quiet "schemathesis==$schemathesis_version"
fi
tools=$root/.build/api-check-tools
promtool=$(command -v promtool || true)
if [ -z "$promtool" ] && command -v apt-get >/dev/null; then
    promtool=$tools/usr/bin/promtool
    if [ ! -x "$promtool" ]; then
        mkdir -p "$tools"
        ( cd "$tools" && { apt-get download -q prometheus 2>/dev/null || { $SUDO apt-get update -qq && apt-get download -q prometheus; }; } \
            && dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb )
    fi
fi
[ -x "${promtool:-}" ] || { echo "api-check: promtool not found (apt-get download prometheus failed)" >&2; exit 1; }

binary=$root/.build/release/credit-meter
[ -x "$binary" ] || swift build -c release --product credit-meter

# The service, with data.
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
base=http://127.0.0.1:$port
CREDIT_METER_HTTP_LISTEN=127.0.0.1:$port CREDIT_METER_HTTP_TOKEN=$token \
    "$binary" demo --accounts 100 --events 20000 --print-alerts 0 --serve >"$work/demo.log" 2>&1 &
demo=$!
cleanup() {
    kill -TERM "$demo" 2>/dev/null && wait "$demo" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
status() {  # the HTTP status of GET $1 (000 when nothing answers)
    python3 - "$base$1" "$token" <<'EOF'
import sys, urllib.request, urllib.error
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
try:
    print(urllib.request.urlopen(request, timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
EOF
}
waited=0
until [ "$(status /readyz)" = 200 ] && [ "$(status /v1/accounts/acct-00042)" = 200 ]; do
    if ! kill -0 "$demo" 2>/dev/null || [ $waited -ge 300 ]; then
        echo "api-check: the demo did not become ready with data on $base" >&2
        tail -20 "$work/demo.log" >&2
        exit 1
    fi
    sleep 1; waited=$((waited + 1))
done
echo "api-check: the demo serves $base (ready, with data)"

# 1. schemathesis. Its working files (.schemathesis/) go to the scratch folder.
( cd "$work" && schemathesis run "$root/docs/openapi.json" --url "$base" -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method,allow_header_conformance,negative_data_rejection,ignored_auth \
    --max-examples "$max_examples" --seed "$seed" --request-timeout 10 --output-sanitize true )

# 2. /metrics, after the traffic above (request histograms filled), once librdkafka's first
#    statistics (every 10 s) have arrived.
scrape() {
    python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=10).read())' \
        "$base/metrics" >"$work/metrics.txt"
}
waited=0
until scrape && grep -q '^credit_meter_kafka_broker_connects_total{' "$work/metrics.txt"; do
    [ $waited -lt 30 ] || break
    sleep 1; waited=$((waited + 1))
done
"$promtool" check metrics <"$work/metrics.txt"
for family in credit_meter_records_total credit_meter_http_requests_total credit_meter_http_request_duration_seconds \
              credit_meter_build_info process_cpu_seconds_total process_resident_memory_bytes process_open_fds \
              process_start_time_seconds credit_meter_kafka_broker_errors_total credit_meter_kafka_broker_retries_total \
              credit_meter_holds_total credit_meter_hold_decision_seconds credit_meter_usage_unheld_total; do
    grep -q "^# TYPE $family " "$work/metrics.txt" || { echo "api-check: /metrics has no $family" >&2; exit 1; }
done
echo "api-check: promtool check metrics passed ($(grep -c '^# TYPE ' "$work/metrics.txt") families)"

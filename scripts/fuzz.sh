#!/usr/bin/env bash
# Fuzzes CreditMeter's parsers of untrusted bytes with libFuzzer + AddressSanitizer.
#
#   scripts/fuzz.sh [--seconds N] [--target decoder|snapshot|config|all] [--keep-corpus]
#
# Each target is built with `swiftc -sanitize=fuzzer,address` (the Swift toolchain ships
# libFuzzer on Linux; nothing else is installed), the CreditEngine sources compiled into the
# fuzz binary, and run for N seconds (default 30) on one worker, starting from the committed
# seed corpus in Fuzz/corpus/<target>/ (copied: the committed seeds are never modified unless
# --keep-corpus is given, which merges new inputs back). Exits non-zero on a crash, a
# sanitizer report, a timeout, or a decoder/reference disagreement; the input that did it is
# left in .build/fuzz/artifacts/.
#
#   decoder   — EventDecoder vs. the reference parser in Fuzz/ReferenceJSON.swift (differential)
#   snapshot  — SnapshotCodec.decode on arbitrary bytes: a corrupt snapshot must be refused,
#               never trusted; what it accepts must re-encode to the same bytes
#   config    — the YAML configuration loader (CreditConfig over Yams/libyaml, all instrumented):
#               hostile files are refused with a ConfigError naming the file, never a crash
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
target=all
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --target) target="$2"; shift 2 ;;
        --keep-corpus) keep=1; shift ;;
        *) echo "usage: $0 [--seconds N] [--target decoder|snapshot|config|all] [--keep-corpus]" >&2; exit 2 ;;
    esac
done

# Swift's own crash backtracer fights AddressSanitizer (and can hang on a trap): off.
export SWIFT_BACKTRACE=enable=no

command -v swiftc >/dev/null || { echo "fuzz.sh: swiftc not found (install Swift 6.x)" >&2; exit 2; }

out=.build/fuzz
mkdir -p "$out/artifacts"
engine_sources=$(find Sources/CreditEngine -name '*.swift' | sort)
# CreditEngine's one C module (a header): its module map is found through this search path.
engine_includes="-I Sources/CachePrefetch/include"

build() {  # name, harness files…
    local name="$1"; shift
    local bin="$out/$name-fuzz"
    local newest
    newest=$(ls -t $engine_sources Fuzz/*.swift "$0" | head -1)
    if [ ! -x "$bin" ] || [ "$newest" -nt "$bin" ]; then
        echo "fuzz.sh: building $bin"
        # ld.gold prints harmless "Cannot export local symbol __asan_*" warnings: filtered.
        swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "Fuzz_$name" $engine_includes \
            $engine_sources "$@" -o "$bin" 2>&1 | { grep -v "Cannot export local symbol" || true; }
        [ -x "$bin" ] || { echo "fuzz.sh: build of $bin failed" >&2; exit 2; }
    fi
}

# The config target needs CreditEngine and Yams as modules (CreditConfig imports them), so
# those are built apart — libyaml's C with clang, the rest with swiftc — all with the fuzzer's
# coverage and ASan, then linked with CreditConfig's sources and the harness. -Onone keeps the
# compile short (CI runs it for 30 s; YAML parsing dominates, not the engine).
build_config() {
    local bin="$out/config-fuzz"
    local yams=.build/checkouts/Yams/Sources
    [ -d "$yams/CYaml" ] || swift package resolve >/dev/null
    local mods="$out/config-modules"
    mkdir -p "$mods"
    local flags=(-Onone -sanitize=fuzzer,address -parse-as-library -I "$mods" -Xcc -DYAML_DECLARE_STATIC -Xcc -I"$yams/CYaml/include")
    local newest c
    newest=$(ls -t $engine_sources "$0" | head -1)
    if [ ! -f "$mods/libCreditEngine.a" ] || [ "$newest" -nt "$mods/libCreditEngine.a" ]; then
        echo "fuzz.sh: building CreditEngine for the config target"
        swiftc "${flags[@]}" $engine_includes -module-name CreditEngine -emit-module -emit-module-path "$mods/CreditEngine.swiftmodule" \
            -emit-library -static -o "$mods/libCreditEngine.a" $engine_sources 2>&1 | { grep -v "Cannot export local symbol" || true; }
    fi
    if [ ! -f "$mods/libYams.a" ] || [ "$0" -nt "$mods/libYams.a" ]; then
        echo "fuzz.sh: building libyaml and Yams for the config target"
        for c in "$yams"/CYaml/src/*.c; do
            clang -c -O1 -g -fsanitize=fuzzer-no-link,address -DYAML_DECLARE_STATIC -I"$yams/CYaml/include" \
                "$c" -o "$mods/cyaml-$(basename "$c" .c).o"
        done
        swiftc "${flags[@]}" -module-name Yams -emit-module -emit-module-path "$mods/Yams.swiftmodule" \
            -D SWIFT_PACKAGE -emit-library -static -o "$mods/libYams.a" "$yams"/Yams/*.swift 2>&1 | { grep -v "Cannot export local symbol\|warning:" || true; }
    fi
    newest=$(ls -t "$mods/libCreditEngine.a" "$mods/libYams.a" Sources/CreditConfig/*.swift Fuzz/ConfigFuzz.swift "$0" | head -1)
    if [ ! -x "$bin" ] || [ "$newest" -nt "$bin" ]; then
        echo "fuzz.sh: building $bin"
        swiftc "${flags[@]}" $engine_includes -module-name Fuzz_config Sources/CreditConfig/*.swift Fuzz/ConfigFuzz.swift \
            "$mods/libCreditEngine.a" "$mods/libYams.a" "$mods"/cyaml-*.o -o "$bin" 2>&1 | { grep -v "Cannot export local symbol" || true; }
    fi
    [ -x "$bin" ] || { echo "fuzz.sh: build of $bin failed" >&2; exit 2; }
}

run() {  # name, extra libFuzzer flags…
    local name="$1"; shift
    local work="$out/corpus-$name"
    rm -rf "$work"; mkdir -p "$work"
    local log="$out/$name.log"
    echo "fuzz.sh: $name for ${seconds}s (log: $log)"
    set +e
    "$out/$name-fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$name-" "$@" "$work" "Fuzz/corpus/$name" >"$log" 2>&1
    local rc=$?
    set -e
    local execs rate
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    local corpus
    corpus=$(ls "$work" | wc -l)
    echo "fuzz.sh: $name: exit $rc, $execs executions, $rate exec/s, corpus $corpus new + $(ls Fuzz/corpus/$name | wc -l) seeds"
    if [ $rc -ne 0 ]; then
        grep -E "DISAGREEMENT|ERROR: AddressSanitizer|ERROR: libFuzzer|Fatal error|SUMMARY|Test unit written" "$log" | head -20 >&2
        echo "fuzz.sh: $name FAILED (full log: $log)" >&2
        return 1
    fi
    if [ $keep -eq 1 ]; then
        "$out/$name-fuzz" -merge=1 "Fuzz/corpus/$name" "$work" >/dev/null 2>&1
    fi
}

# The builds are independent single-threaded compiles: run them side by side (on CI's two
# cores this takes the fuzz step from about 5 min to about 3.5 min cold), then fuzz each
# target in turn.
want() { [ "$target" = "$1" ] || [ "$target" = all ]; }
builds=()
if want decoder; then build decoder Fuzz/ReferenceJSON.swift Fuzz/DecoderFuzz.swift & builds+=($!); fi
if want snapshot; then build snapshot Fuzz/SnapshotFuzz.swift & builds+=($!); fi
if want config; then build_config & builds+=($!); fi
[ ${#builds[@]} -gt 0 ] || { echo "fuzz.sh: unknown target $target" >&2; exit 2; }
for pid in "${builds[@]}"; do wait "$pid" || exit 2; done

status=0
if want decoder; then run decoder -max_len=4096 -dict=Fuzz/decoder.dict || status=1; fi
if want snapshot; then run snapshot -max_len=65536 || status=1; fi
if want config; then run config -max_len=8192 -dict=Fuzz/config.dict || status=1; fi
exit $status

#!/usr/bin/env bash
# Installs what CreditMeter needs on Debian/Ubuntu: librdkafka (with its mock cluster) and
# pkg-config to build; with --test also headless Chromium (the UI tests load the pages in a
# real browser). Swift itself is expected to be installed already.
set -euo pipefail
packages=()
if ! pkg-config --exists rdkafka 2>/dev/null || [ ! -f /usr/include/librdkafka/rdkafka_mock.h ]; then
    packages+=(librdkafka-dev pkg-config)
fi
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
    packages+=(chromium)
fi
[ ${#packages[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null

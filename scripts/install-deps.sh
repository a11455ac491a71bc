#!/usr/bin/env bash
# Installs what building CreditMeter needs on Debian/Ubuntu: librdkafka (with its mock
# cluster) and pkg-config. Swift itself is expected to be installed already.
set -euo pipefail
if pkg-config --exists rdkafka 2>/dev/null && [ -f /usr/include/librdkafka/rdkafka_mock.h ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq librdkafka-dev pkg-config >/dev/null

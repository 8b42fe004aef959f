#!/usr/bin/env bash
# Install promtool (Debian package `prometheus`) unless it is already on PATH.
# Idempotent and quick when present: the alert-rule tests call it before pytest.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "promtool is missing and apt-get is not available; install Prometheus's promtool by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

install() {
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends prometheus
}

# A fresh machine may have empty package lists; refresh them only when the first try fails.
if ! install; then
    $SUDO apt-get update
    install
fi

promtool --version | head -n 1

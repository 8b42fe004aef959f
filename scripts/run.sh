#!/usr/bin/env bash
# Start the service from a checkout. Without a .env, write one with a fresh random
# API_TOKEN (printed once) so a first run needs no editing. Without REDIS_URL or
# REDIS_HOST the service starts its embedded Redis-compatible server under ./data.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f .env ] && [ -z "${API_TOKEN:-}" ]; then
    token=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))')
    sed "s|^API_TOKEN=.*|API_TOKEN=${token}|" .env.example > .env
    chmod 600 .env
    echo "Wrote .env with a new API_TOKEN: ${token}"
fi
exec .venv/bin/python -m service

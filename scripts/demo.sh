#!/usr/bin/env bash
# `make demo`: the service, Redis and a receiver that prints every webhook, in Docker. The
# receiver schedules one message to itself 10 s out; this follows its output until Ctrl-C.
# Without a .env it writes one with a fresh API_TOKEN and WEBHOOK_SIGNING_SECRET, so the
# receiver can show the signature verified.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f .env ]; then
    token=$(openssl rand -hex 24)
    secret="whsec_$(openssl rand -base64 32)"
    sed -e "s|^API_TOKEN=.*|API_TOKEN=${token}|" \
        -e "s|^WEBHOOK_SIGNING_SECRET=.*|WEBHOOK_SIGNING_SECRET=${secret}|" .env.example > .env
    chmod 600 .env
    echo "Wrote .env with a new API_TOKEN and WEBHOOK_SIGNING_SECRET."
elif ! grep -q '^WEBHOOK_SIGNING_SECRET=whsec_' .env; then
    echo "Note: .env sets no WEBHOOK_SIGNING_SECRET: webhooks go unsigned and the receiver says so."
fi

docker compose --profile demo up --detach --build --wait
echo "Up: API on http://localhost:8000. The receiver scheduled a message 10 s out; its output"
echo "follows (Ctrl-C stops following, \`make demo-down\` stops everything)."
exec docker compose --profile demo logs --follow --no-log-prefix receiver

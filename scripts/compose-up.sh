#!/usr/bin/env bash
# `make up`: start the stack with docker compose, after checking that an engine answers.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  cat >&2 <<'MSG'
No Docker engine answers here (`docker info` failed), so `docker compose up` cannot start the stack.
Start the engine (or use a machine that has one), or run the stack natively with `make stack`:
  Prometheus and Alertmanager from your package manager on the generated configs, the demo
  exporter and local Slack/PagerDuty receivers (README.md, "Without Docker").
MSG
  exit 1
fi
missing=$(for f in $(sed -n 's#^ *file: \./secrets/##p' docker-compose.yml); do [ -s "secrets/$f" ] || echo "$f"; done)
if [ -n "$missing" ]; then
  echo "Fill these files in secrets/ first (see secrets/README.md): $missing" >&2
  exit 1
fi
exec docker compose up -d --build

#!/usr/bin/env bash
# The local observability stack: Collector (our OCB build), Jaeger v2, Prometheus, Alertmanager,
# all on loopback.
#   stack/stack.sh build    install Prometheus/Alertmanager if missing, build Collector and Jaeger
#   stack/stack.sh up       build what is missing, start everything, wait until healthy
#   stack/stack.sh down     stop what `up` started (pid files in .stack/)
#   stack/stack.sh status   health of each service (exit 1 unless all are healthy)
# Environment: PY (python, default .venv/bin/python or python3), ALERTMANAGER_WEBHOOK_URL.
set -euo pipefail
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PY:-}" ]; then
  if [ -x "$REPO_DIR/.venv/bin/python" ]; then PY="$REPO_DIR/.venv/bin/python"; else PY=python3; fi
fi
cmd="${1:-}"
case "$cmd" in
  build|up|down|status|urls) shift; exec "$PY" "$REPO_DIR/stack/pystack.py" "$cmd" "$@" ;;
  *) echo "usage: $0 build|up|down|status|urls [--webhook-url URL]" >&2; exit 2 ;;
esac

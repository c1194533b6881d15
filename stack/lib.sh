# Shared helpers of the stack/ build scripts (sourced, not run).
# Builds are cached outside the repo (CI clones afresh on the same machine), keyed by a hash
# of what they are built from, so that a warm machine starts the stack in seconds.
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$STACK_DIR")"
CACHE_ROOT="${AIRFLOW_OTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airflow-otel-listener}"
# shellcheck source=versions.env
source "$STACK_DIR/versions.env"
mkdir -p "$CACHE_ROOT"

log() { echo "[stack $(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# cache_key FILE... : short hash of the files, the script versions and the Go version.
cache_key() {
  { cat "$@" "$STACK_DIR/versions.env"; go version; } | sha256sum | cut -c1-16
}

# run_with_progress LOGFILE WHAT CMD... : run CMD with output in LOGFILE, printing a progress
# line every 30 s (cold Go builds take minutes on 2 cores and CI must see that they move).
run_with_progress() {
  local logfile="$1" what="$2"; shift 2
  local start=$SECONDS rc=0
  "$@" >"$logfile" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$what: still running after $((SECONDS - start))s ($(grep -c . "$logfile" || true) log lines; last: $(tail -c 160 "$logfile" | tail -n1 | cut -c1-120))"
    fi
  done
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "$what failed (exit $rc) after $((SECONDS - start))s; last lines of $logfile:"
    tail -n 40 "$logfile" >&2
    return "$rc"
  fi
  log "$what: done in $((SECONDS - start))s"
}

# with_build_lock CMD... : one build at a time per cache (parallel test runs, make -j).
with_build_lock() {
  exec 9>"$CACHE_ROOT/.build.lock"
  flock -w 5400 9 || die "could not get the build lock $CACHE_ROOT/.build.lock"
  "$@"
}

require_go() {
  command -v go >/dev/null 2>&1 || die "Go is needed to build the Collector and Jaeger (go not found)"
}

#!/usr/bin/env bash
# Install Prometheus and Alertmanager from Debian's packages when they are missing
# (binaries prometheus, promtool, prometheus-alertmanager, amtool). No service is started:
# stack/pystack.py runs them on loopback with temporary storage.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=()
for bin in prometheus promtool prometheus-alertmanager amtool; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
log "missing: ${missing[*]}; installing Debian packages prometheus prometheus-alertmanager"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install prometheus prometheus-alertmanager"
  SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
run_with_progress "$CACHE_ROOT/apt-update.log" "apt-get update" $SUDO apt-get update
run_with_progress "$CACHE_ROOT/apt-install.log" "apt-get install" \
  $SUDO apt-get install -y --no-install-recommends prometheus prometheus-alertmanager
# Debian's packages would start services where a service manager runs: the stack runs its own.
for svc in prometheus prometheus-alertmanager; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done
for bin in prometheus promtool prometheus-alertmanager amtool; do
  command -v "$bin" >/dev/null 2>&1 || die "$bin still missing after apt-get install"
done

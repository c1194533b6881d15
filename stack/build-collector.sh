#!/usr/bin/env bash
# Build our OpenTelemetry Collector distribution (collector-config/builder-config.yaml) with the
# OpenTelemetry Collector Builder, unless the cache has it. Prints the binary's path on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_go

MANIFEST="$REPO_DIR/collector-config/builder-config.yaml"
KEY="$(cache_key "$MANIFEST")"
DEST="$CACHE_ROOT/otelcol-$KEY/otelcol-airflow"

build() {
  [ -x "$DEST" ] && return 0   # built by a concurrent run while we waited for the lock
  local ocb_dir="$CACHE_ROOT/tools/ocb-$OCB_VERSION"
  if [ ! -x "$ocb_dir/builder" ]; then
    log "installing the Collector Builder $OCB_VERSION"
    mkdir -p "$ocb_dir"
    run_with_progress "$ocb_dir.install.log" "go install builder@$OCB_VERSION" \
      env GOBIN="$ocb_dir" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
  fi
  local work="$CACHE_ROOT/otelcol-$KEY.work"
  rm -rf "$work" && mkdir -p "$work"
  sed "s|^\(  output_path:\).*|\1 $work/build|" "$MANIFEST" >"$work/builder-config.yaml"
  log "building the Collector (manifest hash $KEY) in $work; a cold build takes ~5-15 min"
  run_with_progress "$work/build.log" "Collector build" \
    "$ocb_dir/builder" --config "$work/builder-config.yaml"
  mkdir -p "$(dirname "$DEST")"
  mv "$work/build/otelcol-airflow" "$DEST.tmp" && mv "$DEST.tmp" "$DEST"
  rm -rf "$work"
}

if [ ! -x "$DEST" ]; then
  with_build_lock build
fi
echo "$DEST"

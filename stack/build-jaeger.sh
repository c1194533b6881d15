#!/usr/bin/env bash
# Build the Jaeger v2 binary (stack/jaeger-build pins the version) unless the cache has it.
# Prints the binary's path on stdout. The Go module has no UI assets: the query HTTP API works,
# the web UI is a placeholder (docker-compose.yml uses the official image, which has the UI).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_go

SRC="$STACK_DIR/jaeger-build"
KEY="$(cache_key "$SRC/go.mod" "$SRC/go.sum")"
DEST="$CACHE_ROOT/jaeger-$KEY/jaeger"

build() {
  [ -x "$DEST" ] && return 0
  local work="$CACHE_ROOT/jaeger-$KEY.work"
  rm -rf "$work" && mkdir -p "$work"
  cp "$SRC/go.mod" "$SRC/go.sum" "$SRC/tools.go" "$work/"
  log "building Jaeger $JAEGER_VERSION (hash $KEY) in $work; a cold build takes ~5-10 min"
  (cd "$work" && run_with_progress "$work/build.log" "Jaeger build" \
    go build -trimpath -ldflags "-s -w" -o "$work/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger)
  mkdir -p "$(dirname "$DEST")"
  mv "$work/jaeger" "$DEST.tmp" && mv "$DEST.tmp" "$DEST"
  rm -rf "$work"
}

if [ ! -x "$DEST" ]; then
  with_build_lock build
fi
echo "$DEST"

# Shared set-up for the CLI suites: binaries from $BIN_DIR, a private temp dir.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

: "${BIN_DIR:?BIN_DIR must point at the build directory}"
GCS="$BIN_DIR/gcs/gcs"
UVMCTL="$BIN_DIR/tools/uvmctl/uvmctl"

setup() {
  TMP=$(mktemp -d /tmp/hcskit-bats-XXXXXX)
}

teardown() {
  if [ -n "${GCS_PID:-}" ]; then kill "$GCS_PID" 2>/dev/null || true; wait "$GCS_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}

# Starts a gcs dialling $1 (an address) in the background.
start_gcs() {
  "$GCS" --transport "$1" --no-poweroff --log-level debug 2>>"$TMP/gcs.log" &
  GCS_PID=$!
}

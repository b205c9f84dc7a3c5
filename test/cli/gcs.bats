#!/usr/bin/env bats
# gcs's own command line.

load helpers

@test "gcs --help names every option" {
  run "$GCS" --help
  assert_success
  for opt in --transport --log-level --log-format --root --runtime --cgroup-parent --scsi-devices --dev-dir \
      --no-poweroff --version; do
    assert_output --partial -- "$opt"
  done
}

@test "gcs --version" {
  run "$GCS" --version
  assert_success
  assert_output --regexp '^gcs [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "gcs rejects a bad transport, log level and log format" {
  run "$GCS" --transport bogus
  assert_equal "$status" 1
  assert_output --partial "invalid transport address"
  run "$GCS" --log-level loud --transport unix:/tmp/x
  assert_equal "$status" 1
  run "$GCS" --log-format xml --transport unix:/tmp/x
  assert_equal "$status" 1
  run "$GCS" --no-such-flag
  assert_equal "$status" 2
}

@test "gcs rejects an unknown runtime" {
  run "$GCS" --runtime docker --transport unix:/tmp/x
  assert_equal "$status" 1
  assert_output --partial "unknown OCI runtime 'docker'"
}

@test "gcs keeps re-dialling until a host listens, then serves it" {
  start_gcs "unix:$TMP/late.sock"
  sleep 0.5
  run "$UVMCTL" gcs exec --listen "unix:$TMP/late.sock" -- echo late
  assert_success
  assert_output "late"
}

@test "gcs stops cleanly on SIGTERM" {
  start_gcs "unix:$TMP/g.sock"
  sleep 0.2
  kill -TERM "$GCS_PID"
  wait "$GCS_PID"
  status=$?
  GCS_PID=
  assert_equal "$status" 0
}

@test "gcs logs JSON lines" {
  start_gcs "unix:$TMP/g.sock"
  "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -- true
  kill -TERM "$GCS_PID"; wait "$GCS_PID" || true; GCS_PID=
  run python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print("ok")' "$TMP/gcs.log"
  assert_output "ok"
  grep -q '"level":"info"' "$TMP/gcs.log"
}

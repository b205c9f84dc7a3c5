#!/usr/bin/env bats
# uvmctl, verb by verb, against a real gcs on this host.

load helpers

@test "uvmctl --help lists the gcs object" {
  run "$UVMCTL" --help
  assert_success
  assert_output --partial "gcs"
}

@test "uvmctl without a verb is a usage error (125)" {
  run "$UVMCTL"
  assert_equal "$status" 125
}

@test "gcs exec runs a command and relays its stdout" {
  start_gcs "unix:$TMP/g.sock"
  run "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -- uname -s
  assert_success
  assert_output "Linux"
}

@test "gcs exec over mux" {
  start_gcs "mux+unix:$TMP/g.sock"
  run "$UVMCTL" gcs exec --listen "mux+unix:$TMP/g.sock" -- echo via mux
  assert_success
  assert_output "via mux"
}

@test "gcs exec exits with the process's exit code, 128+N for a signal" {
  start_gcs "unix:$TMP/g.sock"
  run "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -- sh -c 'exit 7'
  assert_equal "$status" 7
  run "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -- sh -c 'kill -KILL $$'
  assert_equal "$status" 137
}

@test "gcs exec -i relays stdin to the end of input" {
  start_gcs "unix:$TMP/g.sock"
  run bash -c "printf 'one\ntwo\n' | '$UVMCTL' gcs exec --listen 'unix:$TMP/g.sock' -i -- sh -c 'wc -l'"
  assert_success
  assert_output "2"
}

@test "gcs exec keeps stdout and stderr apart" {
  start_gcs "unix:$TMP/g.sock"
  "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -- sh -c 'echo out; echo err >&2' >"$TMP/out" 2>"$TMP/err"
  assert_equal "$(cat "$TMP/out")" "out"
  assert_equal "$(cat "$TMP/err")" "err"
}

@test "gcs exec -e and --cwd set the environment and directory" {
  start_gcs "unix:$TMP/g.sock"
  run "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -e A=1 -e B=two --cwd /tmp -- sh -c 'echo $A $B $(pwd)'
  assert_success
  assert_output "1 two /tmp"
}

@test "gcs exec -e right before -- leaves the command's own flags alone" {
  start_gcs "unix:$TMP/g.sock"
  run "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -e A=1 -- sh -c 'echo $A'
  assert_success
  assert_output "1"
}

@test "gcs exec -t gives the process a terminal" {
  start_gcs "unix:$TMP/g.sock"
  run "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -t -- sh -c 'test -t 1 && echo tty'
  assert_success
  assert_output --partial "tty"
}

@test "gcs exec --guest-log copies the gcs log to stderr" {
  start_gcs "unix:$TMP/g.sock"
  "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" --guest-log -- true 2>"$TMP/err"
  grep -q '"msg":"logging to the host' "$TMP/err"
}

@test "gcs exec of a missing command fails with 125 and says why" {
  start_gcs "unix:$TMP/g.sock"
  run "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -- /no/such/command
  assert_equal "$status" 125
  assert_output --partial "uvmctl: "
  assert_output --partial "/no/such/command"
}

@test "gcs exec times out when no gcs dials in" {
  run "$UVMCTL" gcs exec --listen "unix:$TMP/none.sock" --timeout 1 -- true
  assert_equal "$status" 125
  assert_output --partial "no gcs connected"
  [ ! -e "$TMP/none.sock" ]
}

@test "gcs exec rejects a bad address, a bad --env and a missing --listen" {
  run "$UVMCTL" gcs exec --listen "tcp:1.2.3.4" -- true
  assert_equal "$status" 125
  assert_output --partial "invalid transport address"
  run "$UVMCTL" gcs exec --listen "unix:$TMP/x.sock" -e NOEQUALS -- true
  assert_equal "$status" 125
  assert_output --partial "KEY=VALUE"
  run "$UVMCTL" gcs exec -- true
  assert_equal "$status" 125
}

@test "gcs exec fails cleanly when the gcs dies mid-request" {
  start_gcs "unix:$TMP/g.sock"
  ( sleep 1; kill -KILL "$GCS_PID" ) &
  run "$UVMCTL" gcs exec --listen "unix:$TMP/g.sock" -- sleep 30
  assert_equal "$status" 125
  assert_output --partial "bridge closed"
}

@test "uvmctl -o json prints a failure as a JSON object" {
  run "$UVMCTL" -o json gcs exec --listen "tcp:nowhere" -- true
  assert_equal "$status" 125
  run python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert "invalid transport address" in d["error"]; print(d["code"])' "$output"
  assert_success
  assert_output "0x80070057"
  run "$UVMCTL" -o yaml gcs exec --listen "unix:$TMP/x" -- true
  assert_equal "$status" 125
}

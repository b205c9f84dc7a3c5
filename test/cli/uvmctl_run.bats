#!/usr/bin/env bats
# uvmctl gcs run: OCI bundles run as containers through a real gcs on this host.
# The container tests need root and runc or crun; the fixtures (a busybox bundle)
# come from test/fixtures/make-fixtures.

load helpers

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup_file() {
  export FX="$BATS_FILE_TMPDIR/fx"
  if [ -x "$REPO/test/fixtures/make-fixtures" ] && [ "$(id -u)" = 0 ]; then
    "$REPO/test/fixtures/make-fixtures" "$FX" >"$BATS_FILE_TMPDIR/fixtures.log" 2>&1 || rm -rf "$FX"
  fi
}

# Skips a test that runs a container when this host cannot.
need_containers() {
  [ "$(id -u)" = 0 ] || skip "running containers needs root"
  command -v runc >/dev/null || command -v crun >/dev/null || skip "neither runc nor crun is installed"
  [ -f "$FX/bundle/config.json" ] || skip "no fixtures (test/fixtures/make-fixtures failed or is missing)"
}

# Starts a gcs that runs containers, dialling $1. Its root stays /run/gcs: the guest
# paths of hcsshim's host (/run/gcs/c/ID) must be under it.
start_container_gcs() {
  local flags=()
  # The runtime flags, when this gcs has them.
  # HCSKIT_TEST_RUNTIME=crun|runc picks one; by default the gcs chooses.
  if [ -n "${HCSKIT_TEST_RUNTIME:-}" ]; then flags+=(--runtime "$HCSKIT_TEST_RUNTIME"); fi
  "$GCS" --transport "$1" --no-poweroff --log-level debug "${flags[@]}" 2>>"$TMP/gcs.log" &
  GCS_PID=$!
}

# A bundle of our own at $TMP/bundle: the fixture's config.json, its root.path made
# absolute (so the rootfs is shared), edited by the jq filter $1.
make_bundle() {
  mkdir -p "$TMP/bundle"
  jq --arg root "$FX/bundle/rootfs" ".root.path = \$root | ${1:-.}" "$FX/bundle/config.json" >"$TMP/bundle/config.json"
}

# Waits up to 10 s for file $1 to contain $2.
wait_for_text() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no '$2' in $1: $(cat "$1" 2>/dev/null)" >&2
  return 1
}

# Fails when anything of container $1 is left on this host: its guest directory, or a mount under it.
assert_torn_down() {
  [ ! -e "/run/gcs/c/$1" ] || fail "/run/gcs/c/$1 is still there"
  ! grep -q " /run/gcs/c/$1[/ ]" /proc/self/mounts || fail "a mount under /run/gcs/c/$1 is left"
}

run_args() { "$UVMCTL" gcs run --listen "unix:$TMP/g.sock" "$@"; }
# The same in the background, as a process of its own (not a subshell) so that $! is uvmctl.
# Its stdin is the caller's: without "<&0" bash gives a background command /dev/null.
run_bg() { "$UVMCTL" gcs run --listen "unix:$TMP/g.sock" "$@" <&0 & }

# --- the command line, no gcs needed ---------------------------------------------------

@test "gcs run --help lists every option, and uvmctl.1 documents each" {
  run "$UVMCTL" gcs run --help
  assert_success
  local flag text
  text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$REPO/man/uvmctl.1")
  for flag in --listen --bundle --id --layer --scratch -i --interactive -t --tty -e --env --timeout --stop-timeout \
    --guest-log -h --help; do
    assert_output --partial -- "$flag"
    grep -qE -- "(^|[^A-Za-z-])${flag}([^A-Za-z-]|\$)" <<<"$text" || fail "uvmctl.1 does not document $flag"
  done
  run "$UVMCTL" gcs --help
  assert_output --partial "run"
}

@test "gcs run: every flag of --help is in the man page and the bash completion" {
  local flags flag
  flags=$("$UVMCTL" gcs run --help | sed -n '/^Options:/,/^$/p' | grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z-]*' | tr -d ' ,' | sort -u)
  [ -n "$flags" ]
  run bash --norc --noprofile -c '
    source "$1/completions/bash/uvmctl"
    COMP_WORDS=(uvmctl gcs run -) COMP_CWORD=3 COMP_LINE="uvmctl gcs run -" COMP_POINT=16
    _uvmctl; printf "%s\n" "${COMPREPLY[@]}"' bash "$REPO"
  assert_success
  for flag in $flags; do assert_line -- "$flag"; done
  run bash --norc --noprofile -c '
    source "$1/completions/bash/uvmctl"
    COMP_WORDS=(uvmctl gcs r) COMP_CWORD=2 COMP_LINE="uvmctl gcs r" COMP_POINT=12
    _uvmctl; printf "%s\n" "${COMPREPLY[@]}"' bash "$REPO"
  assert_output run
}

@test "gcs run without --listen or --bundle is a usage error (125)" {
  run "$UVMCTL" gcs run --bundle "$TMP"
  assert_equal "$status" 125
  assert_output --partial -- "--listen"
  run "$UVMCTL" gcs run --listen "unix:$TMP/g.sock"
  assert_equal "$status" 125
  assert_output --partial -- "--bundle"
}

@test "gcs run of a missing bundle fails before listening" {
  run run_args --bundle "$TMP/none"
  assert_equal "$status" 125
  assert_output --partial "uvmctl: "
  assert_output --partial "$TMP/none is not a directory"
  [ ! -e "$TMP/g.sock" ]
  mkdir "$TMP/empty"
  run run_args --bundle "$TMP/empty"
  assert_equal "$status" 125
  assert_output --partial "config.json"
}

@test "gcs run refuses a bad config.json and says what is wrong" {
  mkdir -p "$TMP/b/rootfs"
  echo '{"ociVersion": "1.0.2", "process": {' >"$TMP/b/config.json"
  run run_args --bundle "$TMP/b"
  assert_equal "$status" 125
  assert_output --partial "config.json"
  echo '{"ociVersion": "1.0.2", "process": {"args": "sh"}, "root": {"path": "rootfs"}}' >"$TMP/b/config.json"
  run run_args --bundle "$TMP/b"
  assert_equal "$status" 125
  assert_output --partial "process.args"
  echo '{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "../../etc"}}' >"$TMP/b/config.json"
  run run_args --bundle "$TMP/b"
  assert_equal "$status" 125
  assert_output --partial "leaves the bundle"
  echo '{"ociVersion": "1.0.2", "process": {"args": [], "cwd": "/"}, "root": {"path": "rootfs"}}' >"$TMP/b/config.json"
  run run_args --bundle "$TMP/b"
  assert_equal "$status" 125
  assert_output --partial "nothing to run"
  echo '{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "nowhere"}}' >"$TMP/b/config.json"
  run run_args --bundle "$TMP/b"
  assert_equal "$status" 125
  assert_output --partial "is not a directory"
  [ ! -e "$TMP/g.sock" ]
}

@test "gcs run refuses a bad --id, --layer, --scratch and --env" {
  mkdir -p "$TMP/b/rootfs"
  echo '{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}' >"$TMP/b/config.json"
  local id
  for id in "-x" "a/b" "../up" "$(printf 'x%.0s' {1..129})" "a b"; do
    run run_args --bundle "$TMP/b" --id "$id"
    assert_equal "$status" 125
    assert_output --partial "invalid container id"
  done
  run run_args --bundle "$TMP/b" --layer relative/dir
  assert_equal "$status" 125
  assert_output --partial "is not an absolute path"
  run run_args --bundle "$TMP/b" --layer /a:b
  assert_equal "$status" 125
  assert_output --partial "contains"
  run run_args --bundle "$TMP/b" --scratch scratch
  assert_equal "$status" 125
  assert_output --partial "scratch path"
  run run_args --bundle "$TMP/b" -e NOEQUALS
  assert_equal "$status" 125
  assert_output --partial "KEY=VALUE"
  [ ! -e "$TMP/g.sock" ]
}

@test "gcs run -o json prints a failure as a JSON object" {
  mkdir -p "$TMP/b/rootfs"
  echo '{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}' >"$TMP/b/config.json"
  run "$UVMCTL" -o json gcs run --listen "unix:$TMP/g.sock" --bundle "$TMP/b" --id 'bad/id'
  assert_equal "$status" 125
  run jq -r '.code + " " + .error' <<<"$output"
  assert_success
  assert_output --partial "0x80070057 "
  assert_output --partial "invalid container id"
}

@test "gcs run times out when no gcs dials in" {
  mkdir -p "$TMP/b/rootfs"
  echo '{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}' >"$TMP/b/config.json"
  run run_args --bundle "$TMP/b" --timeout 1
  assert_equal "$status" 125
  assert_output --partial "no gcs connected"
  [ ! -e "$TMP/g.sock" ]
}

# --- containers ------------------------------------------------------------------------

@test "gcs run runs the bundle's own process" {
  need_containers
  make_bundle '.process.args = ["sh", "-c", "echo from $(hostname) in $(pwd)"] | .process.cwd = "/tmp" | .hostname = "box"'
  start_container_gcs "unix:$TMP/g.sock"
  run run_args --bundle "$TMP/bundle"
  assert_success
  assert_output "from box in /tmp"
}

@test "gcs run: ARGS replace process.args; exit codes come through" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run run_args --bundle "$FX/bundle" -- echo hello from a container
  assert_success
  assert_output "hello from a container"
  run run_args --bundle "$FX/bundle" -- sh -c 'exit 7'
  assert_equal "$status" 7
  # The init is its namespace's pid 1, which no signal from inside can kill: a child's status instead.
  run run_args --bundle "$FX/bundle" -- sh -c 'sleep 30 & kill -KILL $!; wait $!'
  assert_equal "$status" 137
}

@test "gcs run keeps stdout and stderr apart" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run_args --bundle "$FX/bundle" -- sh -c 'echo out; echo err >&2' >"$TMP/out" 2>"$TMP/err"
  assert_equal "$(cat "$TMP/out")" "out"
  assert_equal "$(cat "$TMP/err")" "err"
}

@test "gcs run over mux" {
  need_containers
  start_container_gcs "mux+unix:$TMP/g.sock"
  run "$UVMCTL" gcs run --listen "mux+unix:$TMP/g.sock" --bundle "$FX/bundle" -- echo via mux
  assert_success
  assert_output "via mux"
}

@test "gcs run -e sets and replaces environment variables" {
  need_containers
  make_bundle '.process.env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "A=old", "KEEP=kept"]'
  start_container_gcs "unix:$TMP/g.sock"
  run run_args --bundle "$TMP/bundle" -e A=new -e B=two --env C= -- sh -c 'echo $A $B $KEEP "[$C]"'
  assert_success
  assert_output "new two kept []"
}

@test "gcs run -i relays stdin to its end" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run bash -c "printf 'one\ntwo\nthree\n' | '$UVMCTL' gcs run --listen 'unix:$TMP/g.sock' --bundle '$FX/bundle' -i -- wc -l"
  assert_success
  assert_output "3"
  # Without -i the container's stdin is empty.
  run bash -c "echo ignored | '$UVMCTL' gcs run --listen 'unix:$TMP/g.sock' --bundle '$FX/bundle' -- cat"
  assert_success
  assert_output ""
}

@test "gcs run -t gives the container a terminal; without -t it has none" {
  need_containers
  make_bundle '.process.terminal = true'
  start_container_gcs "unix:$TMP/g.sock"
  run run_args --bundle "$TMP/bundle" -t -- sh -c 'test -t 1 && echo tty'
  assert_success
  assert_output --partial "tty"
  run run_args --bundle "$TMP/bundle" -- sh -c 'test -t 1 && echo tty || echo notty'
  assert_success
  assert_output "notty"
}

@test "gcs run --id names the container, and everything is torn down after it" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run_bg --bundle "$FX/bundle" --id run-test.1 -- sh -c 'echo started; sleep 1' >"$TMP/out" 2>&1
  local pid=$!
  wait_for_text "$TMP/out" started
  [ -d /run/gcs/c/run-test.1 ] || fail "no /run/gcs/c/run-test.1 while the container runs"
  grep -q " /run/gcs/c/run-test.1/rootfs " /proc/self/mounts || fail "no overlay at /run/gcs/c/run-test.1/rootfs"
  wait "$pid"
  assert_torn_down run-test.1
  # The id can be used again at once.
  run run_args --bundle "$FX/bundle" --id run-test.1 -- true
  assert_success
  assert_torn_down run-test.1
}

@test "gcs run generates a 64-hex-digit id when none is given" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run "$UVMCTL" --log-level info gcs run --listen "unix:$TMP/g.sock" --bundle "$FX/bundle" -- true
  assert_success
  assert_output --regexp "created container [0-9a-f]{64}"
}

@test "gcs run --layer stacks layers, first on top, and --scratch holds the writes" {
  need_containers
  [ -d "$FX/rootfs" ] || skip "no plain rootfs fixture"
  mkdir -p "$TMP/top/etc"
  echo "from the top layer" >"$TMP/top/etc/motd"
  start_container_gcs "unix:$TMP/g.sock"
  mkfifo "$TMP/in"
  # Opened read-write first, so that neither end's open blocks.
  exec 7<>"$TMP/in"
  # The gcs keeps scratch directories under its root, /run/gcs.
  local scratch=/run/gcs/bats-scratch-$$
  run_bg --bundle "$FX/bundle" --id layered --layer "$TMP/top" --layer "$FX/rootfs" --scratch "$scratch" -i \
    -- sh -c 'cat /etc/motd; echo data >/written; echo ready; read line' <"$TMP/in" >"$TMP/out" 2>&1
  local pid=$!
  wait_for_text "$TMP/out" ready
  [ -f "$scratch/upper/written" ] || fail "the write did not land in --scratch: $(ls -R "$scratch" 2>&1)"
  [ ! -e "$FX/rootfs/written" ] || fail "the write reached a read-only layer"
  echo done >&7
  exec 7>&-
  wait "$pid"
  assert_equal "$(head -1 "$TMP/out")" "from the top layer"
  assert_torn_down layered
  [ ! -e "$scratch" ] || fail "the scratch $scratch is left"
}

@test "gcs run --guest-log copies the gcs log to stderr" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run_args --bundle "$FX/bundle" --guest-log -- true 2>"$TMP/err"
  grep -q '"msg":"logging to the host' "$TMP/err"
}

@test "gcs run: SIGTERM shuts the container down gracefully" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run_bg --bundle "$FX/bundle" --id graceful -- sh -c 'trap "echo stopping; exit 3" TERM; echo started; while :; do sleep 0.1; done' \
    >"$TMP/out" 2>&1
  local pid=$! status=0
  wait_for_text "$TMP/out" started
  kill -TERM "$pid"
  wait "$pid" || status=$?
  assert_equal "$status" 3
  grep -q stopping "$TMP/out"
  assert_torn_down graceful
}

@test "gcs run: a container that ignores SIGTERM is killed after --stop-timeout; a second SIGINT kills at once" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  # sleep as the container's pid 1 ignores SIGTERM: it has no handler.
  run_bg --bundle "$FX/bundle" --stop-timeout 1 -- sh -c 'echo started; exec sleep 60' >"$TMP/out" 2>&1
  local pid=$! status=0 start=$SECONDS
  wait_for_text "$TMP/out" started
  kill -TERM "$pid"
  wait "$pid" || status=$?
  assert_equal "$status" 137
  [ $((SECONDS - start)) -lt 15 ] || fail "took $((SECONDS - start)) s"

  run_bg --bundle "$FX/bundle" --stop-timeout 60 -- sh -c 'echo started; exec sleep 60' >"$TMP/out2" 2>&1
  pid=$! status=0 start=$SECONDS
  wait_for_text "$TMP/out2" started
  kill -INT "$pid"
  sleep 0.5
  kill -INT "$pid"
  wait "$pid" || status=$?
  assert_equal "$status" 137
  [ $((SECONDS - start)) -lt 15 ] || fail "took $((SECONDS - start)) s"
}

@test "gcs run of a missing command fails with 125 and cleans up" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run run_args --bundle "$FX/bundle" --id missing -- /no/such/command
  assert_equal "$status" 125
  assert_output --partial "uvmctl: "
  assert_output --partial "/no/such/command"
  # The overlay is gone. (Files the guest's failed Create left in /run/gcs/c/missing are
  # the guest's to clean, not uvmctl's.)
  ! grep -q " /run/gcs/c/missing[/ ]" /proc/self/mounts || fail "a mount under /run/gcs/c/missing is left"
  rm -rf /run/gcs/c/missing
  # The gcs is still fine.
  run run_args --bundle "$FX/bundle" -- echo still here
  assert_success
  assert_output "still here"
}

@test "gcs run fails cleanly when the gcs dies mid-run" {
  need_containers
  start_container_gcs "unix:$TMP/g.sock"
  run_bg --bundle "$FX/bundle" --id orphan -- sh -c 'echo started; exec sleep 30' >"$TMP/out" 2>&1
  local pid=$! status=0
  wait_for_text "$TMP/out" started
  kill -KILL "$GCS_PID"
  wait "$pid" || status=$?
  assert_equal "$status" 125
  grep -q "bridge closed" "$TMP/out" || fail "$(cat "$TMP/out")"
  # What the dead gcs left behind is not uvmctl's to clean; do it here.
  local rt
  for rt in runc crun; do
    command -v $rt >/dev/null && $rt --root /run/gcs/runtime delete -f orphan 2>/dev/null || true
  done
  umount /run/gcs/c/orphan/rootfs 2>/dev/null || true
  rm -rf /run/gcs/c/orphan /run/gcs/work/orphan
}

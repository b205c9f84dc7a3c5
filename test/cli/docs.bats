#!/usr/bin/env bats
# The man pages and shell completions agree with the programs.
#   BIN_DIR=build bats test/cli/docs.bats
# BIN_DIR is the build directory (default: build/ in the repository).

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup() {
  REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  BIN_DIR=${BIN_DIR:-$REPO/build}
  GCS=$BIN_DIR/gcs/gcs
  UVMCTL=$BIN_DIR/tools/uvmctl/uvmctl
}

# The flags a --help text lists ("-i,--interactive", "--listen TEXT", ...), one a line.
help_flags() {
  "$@" --help | sed -n '/^Options:/,/^$/p' | grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z-]*' | tr -d ' ,' | sort -u
}

# A man page's text with roff escapes for '-' and fonts removed.
man_text() {
  sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(CW//g' "$REPO/man/$1"
}

# Fails with the missing flags unless every flag of `$2 ...` (a --help) is in man page $1.
assert_flags_documented() {
  local page=$1 flag missing=()
  shift
  local text flags
  text=$(man_text "$page")
  flags=$(help_flags "$@")
  [ -n "$flags" ] || fail "no flags found in the help of: $*"
  for flag in $flags; do
    grep -qE -- "(^|[^A-Za-z-])${flag}([^A-Za-z-]|\$)" <<<"$text" || missing+=("$flag")
  done
  [ ${#missing[@]} -eq 0 ] || fail "$page does not document: ${missing[*]} (from $* --help)"
}

# Prints what the bash completion of tool $1 offers for the line $2 (cursor at its end),
# one a line. The line is split as bash does, with ':' and '=' words of their own.
bash_complete() {
  local tool=$1 line=$2
  bash --norc --noprofile -c '
    source "$1/completions/bash/$2"
    line=$3 words=() rest=$3
    re="^[[:space:]]*([^[:space:]:=]+|[:=])"
    while [[ $rest =~ $re ]]; do
      words+=("${BASH_REMATCH[1]}")
      rest=${rest:${#BASH_REMATCH[0]}}
    done
    [[ $line == *[[:space:]] ]] && words+=("")
    COMP_WORDS=("${words[@]}")
    COMP_CWORD=$((${#words[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    "_$2"
    printf "%s\n" "${COMPREPLY[@]}"
  ' bash "$REPO" "$tool" "$line"
}

@test "the programs are built" {
  [ -x "$GCS" ] || fail "no $GCS: build first, or set BIN_DIR"
  [ -x "$UVMCTL" ] || fail "no $UVMCTL: build first, or set BIN_DIR"
}

@test "every man page renders without groff warnings" {
  command -v groff >/dev/null || skip "groff is not installed"
  local page pages=("$REPO"/man/*.[1-8])
  [ -e "${pages[0]}" ] || fail "no man pages in $REPO/man"
  for page in "${pages[@]}"; do
    run groff -man -Tutf8 -ww -z "$page"
    assert_success
    assert_output ''
  done
}

@test "the man pages have the standard sections" {
  local page section
  for page in gcs.1 uvmctl.1; do
    for section in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
      grep -qE "^\.SH \"?${section}\"?\$" "$REPO/man/$page" || fail "$page has no $section section"
    done
  done
}

@test "gcs.1 documents every flag of gcs --help" {
  assert_flags_documented gcs.1 "$GCS"
}

@test "uvmctl.1 documents every flag of uvmctl gcs exec --help" {
  assert_flags_documented uvmctl.1 "$UVMCTL" gcs exec
}

@test "uvmctl.1 documents every flag of uvmctl --help and uvmctl gcs --help" {
  assert_flags_documented uvmctl.1 "$UVMCTL"
  assert_flags_documented uvmctl.1 "$UVMCTL" gcs
}

@test "bash completion loads and registers both programs" {
  run bash --norc --noprofile -c "source '$REPO/completions/bash/uvmctl' && complete -p uvmctl"
  assert_success
  assert_output 'complete -F _uvmctl uvmctl'
  run bash --norc --noprofile -c "source '$REPO/completions/bash/gcs' && complete -p gcs"
  assert_success
  assert_output 'complete -F _gcs gcs'
}

@test "bash completion: uvmctl offers gcs, then exec" {
  run bash_complete uvmctl 'uvmctl '
  assert_success
  assert_line gcs
  run bash_complete uvmctl 'uvmctl gcs '
  assert_success
  assert_line exec
  run bash_complete uvmctl 'uvmctl --log-level debug gcs e'
  assert_success
  assert_output exec
}

@test "bash completion: gcs offers --transport and its address kinds" {
  run bash_complete gcs 'gcs --tr'
  assert_success
  assert_output --transport
  run bash_complete gcs 'gcs --transport '
  assert_success
  assert_line unix:
  assert_line vsock
  assert_line virtio-serial:
  assert_line mux+virtio-serial:
}

@test "bash completion: values of --log-level, --log-format and --listen" {
  run bash_complete uvmctl 'uvmctl --log-level d'
  assert_output debug
  run bash_complete gcs 'gcs --log-format='
  assert_line text
  assert_line json
  run bash_complete uvmctl 'uvmctl gcs exec --listen mux+'
  assert_line mux+unix:
  assert_line mux+vsock
  refute_line --partial virtio-serial
}

@test "bash completion offers every flag of gcs --help and uvmctl gcs exec --help" {
  local flag
  run bash_complete gcs 'gcs -'
  for flag in $(help_flags "$GCS"); do assert_line -- "$flag"; done
  run bash_complete uvmctl 'uvmctl gcs exec -'
  for flag in $(help_flags "$UVMCTL" gcs exec); do assert_line -- "$flag"; done
  run bash_complete uvmctl 'uvmctl -'
  for flag in $(help_flags "$UVMCTL"); do assert_line -- "$flag"; done
}

@test "zsh and fish completions parse" {
  local checked=0
  if command -v zsh >/dev/null; then
    zsh -n "$REPO/completions/zsh/_gcs"
    zsh -n "$REPO/completions/zsh/_uvmctl"
    checked=1
  fi
  if command -v fish >/dev/null; then
    fish -n "$REPO/completions/fish/gcs.fish"
    fish -n "$REPO/completions/fish/uvmctl.fish"
    checked=1
  fi
  [ "$checked" = 1 ] || skip "neither zsh nor fish is installed"
}

@test "uvmctl.1 documents every flag of every VM verb's --help" {
  local verb
  for verb in run create start exec list ls inspect console logs stop kill pause resume delete rm \
    'disk add' 'disk remove' 'share add' 'share remove' 'bootfiles build'; do
    # shellcheck disable=SC2086 # "disk add" is two words
    assert_flags_documented uvmctl.1 "$UVMCTL" $verb
  done
}

@test "uvmctl.1 has FILES and ENVIRONMENT sections, and gcs.1 documents --wait-for" {
  local section
  for section in FILES ENVIRONMENT; do
    grep -qE "^\.SH \"?${section}\"?\$" "$REPO/man/uvmctl.1" || fail "uvmctl.1 has no $section section"
  done
  man_text uvmctl.1 | grep -q HCSKIT_ROOT || fail "uvmctl.1 does not mention HCSKIT_ROOT"
  man_text uvmctl.1 | grep -q HCSKIT_BOOT_FILES || fail "uvmctl.1 does not mention HCSKIT_BOOT_FILES"
  man_text gcs.1 | grep -q -- --wait-for || fail "gcs.1 does not document --wait-for"
}

@test "bash completion: uvmctl offers the VM verbs, and disk, share and bootfiles subcommands" {
  local verb
  run bash_complete uvmctl 'uvmctl '
  assert_success
  for verb in run create start exec list inspect console logs stop kill pause resume delete disk share bootfiles gcs; do
    assert_line "$verb"
  done
  run bash_complete uvmctl 'uvmctl --root /tmp disk '
  assert_line add
  assert_line remove
  run bash_complete uvmctl 'uvmctl --root /tmp share '
  assert_line add
  assert_line remove
  run bash_complete uvmctl 'uvmctl bootfiles b'
  assert_output build
}

@test "bash completion: VM ids from the state root, and --accel values" {
  local root=$BATS_TEST_TMPDIR/root
  mkdir -p "$root/vm/vm-one" "$root/vm/vm-two"
  HCSKIT_ROOT=$root run bash_complete uvmctl 'uvmctl exec '
  assert_line vm-one
  assert_line vm-two
  run bash_complete uvmctl "uvmctl --root $root delete vm-one "
  assert_line vm-two
  run bash_complete uvmctl "uvmctl --root $root disk add vm-o"
  assert_output vm-one
  run bash_complete uvmctl "uvmctl --root $root share add vm-o"
  assert_output vm-one
  run bash_complete uvmctl "uvmctl --root $root share remove --name 1 vm-t"
  assert_output vm-two
  mkdir -p "$BATS_TEST_TMPDIR/shared-dir"
  touch "$BATS_TEST_TMPDIR/shared-file"
  run bash_complete uvmctl "uvmctl --root $root share add vm-one $BATS_TEST_TMPDIR/shared-"
  assert_output "$BATS_TEST_TMPDIR/shared-dir"
  run bash_complete uvmctl "uvmctl --root $root exec vm-one -- "
  assert_output ''
  run bash_complete uvmctl 'uvmctl run --accel '
  assert_line auto
  assert_line kvm
  assert_line tcg
  run bash_complete uvmctl 'uvmctl create --accel=t'
  assert_output tcg
}

@test "bash completion offers every flag of each VM verb's --help" {
  local verb flag
  for verb in run create start exec list inspect console logs stop kill pause resume delete \
    'disk add' 'disk remove' 'share add' 'share remove' 'bootfiles build'; do
    run bash_complete uvmctl "uvmctl $verb -"
    # shellcheck disable=SC2086
    for flag in $(help_flags "$UVMCTL" $verb); do
      assert_line -- "$flag"
    done
  done
}

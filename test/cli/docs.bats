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
  HNSCTL=$BIN_DIR/tools/hnsctl/hnsctl
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
  [ -x "$HNSCTL" ] || fail "no $HNSCTL: build first, or set BIN_DIR"
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
    zsh -n "$REPO/completions/zsh/_hnsctl"
    checked=1
  fi
  if command -v fish >/dev/null; then
    fish -n "$REPO/completions/fish/gcs.fish"
    fish -n "$REPO/completions/fish/uvmctl.fish"
    fish -n "$REPO/completions/fish/hnsctl.fish"
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

# --- hnsctl ---------------------------------------------------------------------------

# Every verb of hnsctl, as "OBJECT VERB" (aliases included), and the verbs of its own.
HNSCTL_VERBS=(
  'network list' 'network ls' 'network show' 'network create' 'network delete' 'network rm'
  'endpoint list' 'endpoint ls' 'endpoint show' 'endpoint create' 'endpoint delete' 'endpoint rm'
  'endpoint attach' 'endpoint detach'
  'namespace list' 'namespace ls' 'namespace show' 'namespace path' 'namespace create'
  'namespace delete' 'namespace rm' 'namespace add-endpoint' 'namespace remove-endpoint'
  'policy list' 'policy ls' 'policy add' 'policy remove' 'policy rm'
  'loadbalancer list' 'loadbalancer ls' 'loadbalancer show' 'loadbalancer create'
  'loadbalancer delete' 'loadbalancer rm'
  list features
)

# A state root with one network, endpoint, namespace and load balancer recorded in it,
# as hnsctl would have written them (no kernel objects: only the records are read).
hnsctl_records() {
  local root=$1
  mkdir -p "$root"/network/net-one "$root"/network/net-two "$root"/endpoint/ep-one \
    "$root"/namespace/ns-one "$root"/loadbalancer/lb-one
  echo '{"ID": "net-one", "Name": "alpha", "Type": "NAT",
    "Ipams": [{"Type": "Static", "Subnets": [{"IpAddressPrefix": "172.30.0.0/24"}]}]}' \
    >"$root"/network/net-one/record.json
  echo '{"ID": "net-two", "Name": "beta", "Type": "Private"}' >"$root"/network/net-two/record.json
  echo '{"ID": "ep-one", "Name": "web", "HostComputeNetwork": "net-one",
    "IpConfigurations": [{"IpAddress": "172.30.0.2", "PrefixLength": 24}]}' \
    >"$root"/endpoint/ep-one/record.json
  echo '{"ID": "ns-one", "Type": "Host", "NamespaceId": 4026532000,
    "Resources": [{"Type": "Endpoint", "Data": {"ID": "ep-one"}}]}' \
    >"$root"/namespace/ns-one/record.json
  echo '{"ID": "lb-one", "HostComputeEndpoints": ["ep-one"],
    "PortMappings": [{"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080}]}' \
    >"$root"/loadbalancer/lb-one/record.json
}

@test "hnsctl.1 has its sections, and names the state root's variable" {
  local section
  for section in NAME SYNOPSIS DESCRIPTION 'GLOBAL OPTIONS' COMMANDS POLICIES FILES ENVIRONMENT \
    'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
    grep -qE "^\.SH \"?${section}\"?\$" "$REPO/man/hnsctl.1" || fail "hnsctl.1 has no $section section"
  done
  man_text hnsctl.1 | grep -q HCSKIT_ROOT || fail "hnsctl.1 does not mention HCSKIT_ROOT"
}

@test "hnsctl.1 renders without groff warnings" {
  command -v groff >/dev/null || skip "groff is not installed"
  run groff -man -Tutf8 -ww -z "$REPO/man/hnsctl.1"
  assert_success
  assert_output ''
}

@test "hnsctl.1 has a subsection for every object, and describes every verb" {
  local obj verb text
  text=$(man_text hnsctl.1)
  for obj in network endpoint namespace policy loadbalancer list features; do
    grep -qE "^\.SS \"?${obj}( |\"?\$)" "$REPO/man/hnsctl.1" || fail "hnsctl.1 has no subsection for $obj"
  done
  for obj in 'network (net)' 'endpoint (ep)' 'namespace (ns)' 'loadbalancer (lb)'; do
    grep -qF ".SS $obj" "$REPO/man/hnsctl.1" || fail "hnsctl.1 has no subsection '$obj'"
  done
  for verb in "${HNSCTL_VERBS[@]}"; do
    case $verb in
      *" ls" | *" rm") continue ;;  # aliases: "(ls)" and "(rm)" beside the verb
      *' '*) grep -qF -- "$verb" <<<"$text" || fail "hnsctl.1 does not describe '$verb'" ;;
    esac
  done
}

@test "hnsctl.1 documents every flag of hnsctl --help and of each object's --help" {
  local obj
  assert_flags_documented hnsctl.1 "$HNSCTL"
  for obj in network net endpoint ep namespace ns policy loadbalancer lb; do
    assert_flags_documented hnsctl.1 "$HNSCTL" $obj
  done
}

@test "hnsctl.1 documents every flag of every verb's --help" {
  local verb
  for verb in "${HNSCTL_VERBS[@]}"; do
    # shellcheck disable=SC2086 # "network create" is two words
    assert_flags_documented hnsctl.1 "$HNSCTL" $verb
  done
}

@test "hnsctl.1 names the kernel objects, the exit status and the other pages" {
  local text word
  text=$(man_text hnsctl.1)
  for word in hcnbr hcnv hcnp /run/netns/hcn- 'ip hcskit-' 'bridge hcskit-' hcskit-lb ip_forward \
    PortMapping ACL OutBoundNAT NotImpl 125 'uvmctl (1)' 'ip (8)' 'ip-netns (8)' 'nft (8)'; do
    grep -qF -- "$word" <<<"$text" || fail "hnsctl.1 does not mention $word"
  done
}

@test "bash completion loads and registers hnsctl" {
  run bash --norc --noprofile -c "source '$REPO/completions/bash/hnsctl' && complete -p hnsctl"
  assert_success
  assert_output 'complete -F _hnsctl hnsctl'
}

@test "bash completion: hnsctl offers the objects, then their verbs, aliases too" {
  local obj verb
  run bash_complete hnsctl 'hnsctl '
  assert_success
  for obj in network net endpoint ep namespace ns policy loadbalancer lb list features; do
    assert_line "$obj"
  done
  for obj in network net; do
    run bash_complete hnsctl "hnsctl --root /tmp $obj "
    for verb in list ls show create delete rm; do assert_line "$verb"; done
  done
  run bash_complete hnsctl 'hnsctl ep '
  for verb in list ls show create delete rm attach detach; do assert_line "$verb"; done
  run bash_complete hnsctl 'hnsctl -o json namespace '
  for verb in list ls show path create delete rm add-endpoint remove-endpoint; do assert_line "$verb"; done
  run bash_complete hnsctl 'hnsctl policy '
  for verb in list ls add remove rm; do assert_line "$verb"; done
  run bash_complete hnsctl 'hnsctl lb '
  for verb in list ls show create delete rm; do assert_line "$verb"; done
  run bash_complete hnsctl 'hnsctl --log-level debug network c'
  assert_output create
}

@test "bash completion offers every flag of hnsctl --help and of each verb's --help" {
  local verb flag
  run bash_complete hnsctl 'hnsctl -'
  for flag in $(help_flags "$HNSCTL"); do assert_line -- "$flag"; done
  for verb in "${HNSCTL_VERBS[@]}"; do
    run bash_complete hnsctl "hnsctl $verb -"
    # shellcheck disable=SC2086
    for flag in $(help_flags "$HNSCTL" $verb); do
      assert_line -- "$flag"
    done
  done
}

@test "bash completion: values of hnsctl's options" {
  run bash_complete hnsctl 'hnsctl -o '
  assert_line table
  assert_line json
  run bash_complete hnsctl 'hnsctl network create --type '
  assert_line NAT
  assert_line ICS
  assert_line Transparent
  assert_line L2Bridge
  assert_line Private
  run bash_complete hnsctl 'hnsctl ns create --type=H'
  assert_line Host
  assert_line HostDefault
  refute_line NAT
  run bash_complete hnsctl 'hnsctl policy add web --action '
  assert_line Allow
  assert_line Block
  run bash_complete hnsctl 'hnsctl policy rm web --direction '
  assert_line In
  assert_line Out
  run bash_complete hnsctl 'hnsctl policy add web --port-mapping u'
  assert_output udp:
  run bash_complete hnsctl 'hnsctl lb create --protocol '
  assert_line tcp
  assert_line udp
  run bash_complete hnsctl 'hnsctl lb create --distribution=s'
  assert_line sourceip
  assert_line sourceipprotocol
  refute_line none
}

@test "bash completion: hnsctl object IDs and names from hnsctl -o json ... list" {
  local root=$BATS_TEST_TMPDIR/root
  hnsctl_records "$root"
  # shellcheck disable=SC2030 # for this test alone: each runs in a subshell
  PATH=${HNSCTL%/*}:$PATH
  HCSKIT_ROOT=$root run bash_complete hnsctl 'hnsctl network show '
  assert_line net-one
  assert_line alpha
  assert_line net-two
  assert_line beta
  run bash_complete hnsctl "hnsctl --root $root net rm net-one "
  assert_line beta
  run bash_complete hnsctl "hnsctl --root=$root endpoint create --network a"
  assert_output alpha
  run bash_complete hnsctl "hnsctl --root $root ep show "
  assert_line ep-one
  assert_line web
  refute_line net-one
  run bash_complete hnsctl "hnsctl --root $root ep attach web --namespace "
  assert_output ns-one
  # Only an object's own ID: not that of an endpoint it holds.
  run bash_complete hnsctl "hnsctl --root $root namespace path "
  assert_output ns-one
  run bash_complete hnsctl "hnsctl --root $root ns add-endpoint ns-one w"
  assert_output web
  run bash_complete hnsctl "hnsctl --root $root policy add --action Allow "
  assert_line ep-one
  assert_line web
  run bash_complete hnsctl "hnsctl --root $root lb show "
  assert_output lb-one
  run bash_complete hnsctl "hnsctl --root $root lb create --endpoint e"
  assert_output ep-one
  # No positional word after those a verb takes, and nothing without the program.
  run bash_complete hnsctl "hnsctl --root $root ep show web "
  refute_line ep-one
  mkdir -p "$BATS_TEST_TMPDIR/bin"
  ln -s "$(command -v bash)" "$BATS_TEST_TMPDIR/bin/bash"
  PATH=$BATS_TEST_TMPDIR/bin run bash_complete hnsctl "hnsctl --root $root network show "
  assert_success
  assert_output ''
}

@test "fish completion: hnsctl offers the objects, their verbs and object IDs" {
  command -v fish >/dev/null || skip "fish is not installed"
  local root=$BATS_TEST_TMPDIR/root
  hnsctl_records "$root"
  run fish -c "source '$REPO/completions/fish/hnsctl.fish'; complete -C 'hnsctl '"
  assert_success
  assert_line --regexp '^network	'
  assert_line --regexp '^loadbalancer	'
  run fish -c "source '$REPO/completions/fish/hnsctl.fish'; complete -C 'hnsctl ns '"
  assert_line --regexp '^add-endpoint	'
  run fish -c "source '$REPO/completions/fish/hnsctl.fish'; complete -C 'hnsctl policy rm web --'"
  assert_line --regexp '^--all	'
  # shellcheck disable=SC2031
  PATH=${HNSCTL%/*}:$PATH run fish -c \
    "source '$REPO/completions/fish/hnsctl.fish'; complete -C 'hnsctl --root $root ns add-endpoint ns-one '"
  assert_line --regexp '^ep-one	'
  assert_line --regexp '^web	'
  refute_line --regexp '^ns-one	'
}

# Network test topology, shared by the hnsctl suites. Every test gets two network
# namespaces of its own and never touches the machine's:
#   $HOST  where hnsctl runs (its "host"): bridges, veths and nftables rules go here;
#          its uplink up0 is 198.51.100.1/24 (TEST-NET-2).
#   $OUT   the outside world, reached through up0 ↔ out0 (198.51.100.2/24). It has no
#          route to any HCN subnet: only NAT lets an endpoint's traffic come back.
# hnsctl runs in $HOST through nsenter --net, which keeps this mount namespace, so the
# namespaces it mounts under /run/netns are the machine's, and `ip netns exec` finds them.

make_topology() {
  HOST="hk-host-$$-${BATS_TEST_NUMBER:-0}"
  OUT="hk-out-$$-${BATS_TEST_NUMBER:-0}"
  ip netns add "$HOST"
  ip netns add "$OUT"
  ip -n "$HOST" link set lo up
  ip -n "$OUT" link set lo up
  ip link add up0 netns "$HOST" type veth peer name out0 netns "$OUT"
  ip -n "$HOST" addr add 198.51.100.1/24 dev up0
  ip -n "$OUT" addr add 198.51.100.2/24 dev out0
  ip -n "$HOST" link set up0 up
  ip -n "$OUT" link set out0 up
}

# Deletes what hnsctl made for this test's state root, then the test's namespaces
# (which takes any bridge, veth or rule left in them along).
remove_topology() {
  local kind d ns
  # A VM a failed test left: it holds endpoints (and its QEMU would outlive the test).
  for d in "$ROOT"/vm/*/; do
    [ -d "$d" ] || continue
    nsenter --net="/run/netns/$HOST" "$UVMCTL" --root "$ROOT" delete --force "$(basename "$d")" >/dev/null 2>&1 || true
  done
  # The servers first: one still holding the test's output would keep bats waiting.
  for ns in "$HOST" "$OUT" $(ls "$ROOT/namespace" 2>/dev/null | sed 's/^/hcn-/'); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  done
  for kind in loadbalancer endpoint namespace network; do
    [ -d "$ROOT/$kind" ] || continue
    for d in "$ROOT/$kind"/*/; do
      [ -d "$d" ] || continue
      H "$kind" delete "$(basename "$d")" >/dev/null 2>&1 || true
    done
  done
  if [ -d "$ROOT/namespace" ]; then
    for d in "$ROOT/namespace"/*/; do
      [ -d "$d" ] || continue
      ip netns del "hcn-$(basename "$d")" 2>/dev/null
      rm -rf "/etc/netns/hcn-$(basename "$d")"
    done
  fi
  ip netns del "$HOST" 2>/dev/null || true
  ip netns del "$OUT" 2>/dev/null || true
}

# hnsctl in the test's host namespace, on the test's state root.
H() { nsenter --net="/run/netns/$HOST" "$HNSCTL" --root "$ROOT" "$@"; }

# The network namespace of an HCN namespace.
in_ns() {
  local ns=$1
  shift
  ip netns exec "hcn-$ns" "$@"
}

# serve NETNS-ARGS... -- ADDRESS PORT NAME: a TCP server in the namespace (entered by
# the command before --) that answers every connection with "NAME PEER-ADDRESS".
serve() {
  local enter=()
  while [ "$1" != -- ]; do enter+=("$1"); shift; done
  shift
  "${enter[@]}" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
while True:
    c, peer = s.accept()
    c.sendall(("%s %s\n" % (sys.argv[3], peer[0])).encode())
    c.close()
' "$1" "$2" "$3" >/dev/null 2>&1 3>&- &
  local i
  for i in $(seq 50); do
    "${enter[@]}" ss -ltnH "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  echo "the server on port $2 never listened" >&2
  return 1
}

# call NETNS-ARGS... -- ADDRESS PORT: prints the server's answer; fails after 3 s.
call() {
  local enter=()
  while [ "$1" != -- ]; do enter+=("$1"); shift; done
  shift
  "${enter[@]}" python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(s.recv(200).decode().strip())
' "$1" "$2"
}

# Nothing of the network module left in the host namespace, under /run/netns or in the
# state root (besides its lock files).
assert_nothing_left() {
  run ip -n "$HOST" -o link show
  refute_output --partial hcn
  run ip netns exec "$HOST" nft list ruleset
  refute_output --partial hcskit
  local kind
  for kind in network endpoint namespace loadbalancer; do
    [ ! -d "$ROOT/$kind" ] || [ -z "$(ls -A "$ROOT/$kind")" ] || fail "records left: $(ls "$ROOT/$kind")"
  done
  for id in ${NAMESPACES:-}; do
    [ ! -e "/run/netns/hcn-$id" ] || fail "/run/netns/hcn-$id is left"
    [ ! -e "/etc/netns/hcn-$id" ] || fail "/etc/netns/hcn-$id is left"
  done
}

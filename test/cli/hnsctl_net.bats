#!/usr/bin/env bats
# hnsctl against the real kernel: bridges, veth pairs, network namespaces and nftables,
# all inside network namespaces each test makes for itself (see net_helpers.bash).
# Traffic goes only between those namespaces. Needs root, nft and python3.

load helpers
load net_helpers

HNSCTL="$BIN_DIR/tools/hnsctl/hnsctl"
REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup_file() {
  export FX="$BATS_FILE_TMPDIR/fx"
  export BOOT="$BIN_DIR/boot"
  if [ "$(id -u)" = 0 ]; then
    "$REPO/test/fixtures/make-fixtures" "$FX" >"$BATS_FILE_TMPDIR/fixtures.log" 2>&1 || rm -rf "$FX"
    if command -v qemu-system-x86_64 >/dev/null; then
      "$BIN_DIR/tools/uvmctl/uvmctl" bootfiles build --dir "$BOOT" >"$BATS_FILE_TMPDIR/bootfiles.log" 2>&1 || true
    fi
  fi
}

setup() {
  TMP=$(mktemp -d /tmp/hcskit-net-XXXXXX)
  ROOT="$TMP/state"
  [ "$(id -u)" = 0 ] || skip "networks need root"
  command -v nft >/dev/null || skip "nft is not installed"
  make_topology
}

teardown() {
  remove_topology
  rm -rf "$TMP"
}

# A NAT network 172.30.0.0/24, and namespaces A and B with an endpoint each
# (172.30.0.2 and .3): sets NET, NSA, NSB, EPA, EPB.
two_endpoints() {
  NET=$(H network create nat0 --subnet 172.30.0.0/24 --dns-server 192.0.2.53 --dns-domain example.test)
  NSA=$(H namespace create)
  NSB=$(H namespace create)
  NAMESPACES="$NSA $NSB"
  EPA=$(H endpoint create --network nat0 --name a --namespace "$NSA")
  EPB=$(H endpoint create --network nat0 --name b --namespace "$NSB")
}

@test "network create makes a bridge with the gateway address and its tables; delete removes them" {
  run H network create nat0 --subnet 172.30.0.0/24
  assert_success
  id=$output
  run H -o json network show nat0
  assert_success
  assert_equal "$(jq -r .ID <<<"$output")" "$id"
  assert_equal "$(jq -r '.Ipams[0].Subnets[0].IpAddressPrefix' <<<"$output")" 172.30.0.0/24
  br=$(ip -n "$HOST" -j link show type bridge | jq -r '.[].ifname' | grep ^hcnbr)
  run ip -n "$HOST" -o addr show dev "$br"
  assert_output --partial 172.30.0.1/24
  run ip netns exec "$HOST" nft list tables
  assert_output --partial "table ip hcskit-"
  assert_output --partial "table bridge hcskit-"
  run ip netns exec "$HOST" cat /proc/sys/net/ipv4/ip_forward
  assert_output 1
  run H network list
  assert_output --partial nat0
  run H network delete nat0
  assert_success
  assert_nothing_left
}

@test "two endpoints of a NAT network ping each other from their namespaces" {
  two_endpoints
  run H -o json endpoint show a
  assert_equal "$(jq -r '.IpConfigurations[0].IpAddress' <<<"$output")" 172.30.0.2
  assert_equal "$(jq -r .HostComputeNamespace <<<"$output")" "$NSA"
  # The interface is eth0 in the namespace, with the endpoint's address and MAC.
  run in_ns "$NSA" ip -o addr show dev eth0
  assert_output --partial 172.30.0.2/24
  run in_ns "$NSA" cat /sys/class/net/eth0/address
  assert_output 00:15:5d:1e:00:02
  run in_ns "$NSA" busybox ping -c 1 -W 3 172.30.0.3
  assert_success
  run in_ns "$NSB" busybox ping -c 1 -W 3 172.30.0.2
  assert_success
  run in_ns "$NSA" busybox ping -c 1 -W 3 172.30.0.1
  assert_success
  # The network's DNS settings, where `ip netns exec` mounts them.
  run in_ns "$NSA" cat /etc/resolv.conf
  assert_output --partial "nameserver 192.0.2.53"
  assert_output --partial "search example.test"
}

@test "an endpoint reaches a server outside through NAT, seen from the host's address" {
  two_endpoints
  serve ip netns exec "$OUT" -- 198.51.100.2 9000 outside
  run call in_ns "$NSA" -- 198.51.100.2 9000
  assert_success
  assert_output "outside 198.51.100.1"
}

@test "a port mapping makes a server in a namespace reachable from outside and from the host" {
  two_endpoints
  serve in_ns "$NSA" -- 0.0.0.0 80 inside-a
  run H policy add a --port-mapping tcp:8080:80
  assert_success
  run call ip netns exec "$OUT" -- 198.51.100.1 8080
  assert_success
  assert_output "inside-a 198.51.100.2"
  run call ip netns exec "$HOST" -- 198.51.100.1 8080
  assert_success
  assert_output --partial inside-a
  run H -o json policy list a
  assert_equal "$(jq -r '.[0].Type' <<<"$output")" PortMapping
  assert_equal "$(jq -r '.[0].Settings.ExternalPort' <<<"$output")" 8080
  # Removed, the mapping stops at once.
  run H policy remove a --port-mapping tcp:8080:80
  assert_success
  run call ip netns exec "$OUT" -- 198.51.100.1 8080
  assert_failure
}

@test "an ACL blocks traffic to an endpoint's port, and only that" {
  two_endpoints
  serve in_ns "$NSA" -- 0.0.0.0 80 web
  serve in_ns "$NSA" -- 0.0.0.0 81 other
  run call in_ns "$NSB" -- 172.30.0.2 80
  assert_output "web 172.30.0.3"
  run H policy add a --action Block --direction In --protocols 6 --local-ports 80 --priority 100
  assert_success
  run call in_ns "$NSB" -- 172.30.0.2 80
  assert_failure
  run call ip netns exec "$HOST" -- 172.30.0.2 80
  assert_failure
  run call in_ns "$NSB" -- 172.30.0.2 81
  assert_output "other 172.30.0.3"
  run in_ns "$NSB" busybox ping -c 1 -W 3 172.30.0.2
  assert_success
  # A higher-priority Allow for B's address wins over the Block.
  run H policy add a --action Allow --direction In --protocols 6 --local-ports 80 --remote-addresses 172.30.0.3 --priority 10
  assert_success
  run call in_ns "$NSB" -- 172.30.0.2 80
  assert_output "web 172.30.0.3"
  run call ip netns exec "$HOST" -- 172.30.0.2 80
  assert_failure
  run H policy remove a --all
  assert_success
  run call ip netns exec "$HOST" -- 172.30.0.2 80
  assert_output --partial web
}

@test "a load balancer spreads connections over its endpoints" {
  two_endpoints
  serve in_ns "$NSA" -- 0.0.0.0 80 a
  serve in_ns "$NSB" -- 0.0.0.0 80 b
  run H loadbalancer create --endpoint a --endpoint b --external-port 8081 --internal-port 80
  assert_success
  lb=$output
  seen=""
  for i in $(seq 30); do
    seen="$seen $(call ip netns exec "$OUT" -- 198.51.100.1 8081 | cut -d' ' -f1)"
  done
  [[ $seen == *a* ]] && [[ $seen == *b* ]] || fail "30 calls reached only:$seen"
  run H endpoint delete a
  assert_failure
  assert_output --partial "load balancer $lb"
  run H loadbalancer delete "$lb"
  assert_success
  run call ip netns exec "$OUT" -- 198.51.100.1 8081
  assert_failure
}

@test "detach and attach move the interface out and back; deleting everything leaves nothing" {
  two_endpoints
  run H endpoint detach a
  assert_success
  run in_ns "$NSA" ip -o link show
  refute_output --partial eth0
  run H namespace add-endpoint "$NSA" a
  assert_success
  run in_ns "$NSA" busybox ping -c 1 -W 3 172.30.0.3
  assert_success
  run H namespace delete "$NSA"
  assert_failure
  assert_output --partial "still holds the endpoint"
  run H network delete nat0
  assert_failure
  assert_output --partial "still has 2 endpoint"
  H endpoint delete a b
  H namespace delete "$NSA" "$NSB"
  H network delete nat0
  assert_nothing_left
}

@test "100 endpoints created and deleted at once by separate processes get distinct addresses" {
  H network create big --subnet 10.77.0.0/16 >/dev/null
  for i in $(seq 100); do
    H endpoint create --network big --name "e$i" >"$TMP/ep$i" 2>&1 &
  done
  wait
  run H -o json endpoint list
  assert_equal "$(jq length <<<"$output")" 100
  assert_equal "$(jq -r '.[].IpConfigurations[0].IpAddress' <<<"$output" | sort -u | wc -l)" 100
  assert_equal "$(ip -n "$HOST" -o link show | grep -c ': hcnv')" 100
  for i in $(seq 100); do
    H endpoint delete "e$i" &
  done
  wait
  H network delete big
  assert_nothing_left
}

@test "bad input is refused with a clear error and leaves nothing half-made" {
  H network create nat0 --subnet 172.30.0.0/24 >/dev/null
  links=$(ip -n "$HOST" -o link show | wc -l)
  run H network create other --subnet 172.30.0.128/25
  assert_failure 125
  assert_output --partial "overlaps 172.30.0.0/24"
  run H endpoint create --network nat0 --ip 10.1.2.3
  assert_failure 125
  assert_output --partial "outside the subnets"
  echo '{"Name": "x", "Type": "NAT",' >"$TMP/bad.json"
  run H network create -f "$TMP/bad.json"
  assert_failure 125
  assert_output --partial "bad.json"
  run H endpoint create --network nat0 -f <(echo '{"Policies": [{"Type": "Teleport", "Settings": {}}]}')
  assert_failure 125
  assert_output --partial "unknown endpoint policy type 'Teleport'"
  run H endpoint create --network nat0 -f <(echo '{"Policies": [{"Type": "QOS", "Settings": {}}]}')
  assert_failure 125
  assert_output --partial "not applied on this host"
  run H network create l2t --type L2Tunnel
  assert_failure 125
  run H endpoint create --network nosuch
  assert_failure 125
  assert_output --partial "no network 'nosuch'"
  run H network create nat0 --subnet 10.9.0.0/24
  assert_failure 125
  assert_output --partial "named 'nat0' exists"
  run H endpoint create --network nat0 --mac 01-00-5E-00-00-01
  assert_failure 125
  assert_output --partial "multicast"
  run H endpoint create --network nat0 -f <(echo '{"Policies": [{"Type": "EncapOverhead", "Settings": {"Overhead": "x"}}]}')
  assert_failure 125
  assert_output --partial "EncapOverhead"
  assert_equal "$(ip -n "$HOST" -o link show | wc -l)" "$links"
  run H -o json endpoint list
  assert_output "[]"
  run H -o json network delete nosuch
  assert_failure 125
  assert_equal "$(jq -r .error <<<"$output")" "no network 'nosuch'"
  H network delete nat0
  assert_nothing_left
}

@test "a process-isolated container runs in an HCN namespace: its eth0 is the endpoint" {
  command -v runc >/dev/null || command -v crun >/dev/null || skip "neither runc nor crun is installed"
  [ -f "$FX/bundle/config.json" ] || skip "no fixtures: $(tail -n 3 "$BATS_FILE_TMPDIR/fixtures.log")"
  two_endpoints
  serve in_ns "$NSB" -- 0.0.0.0 80 b
  path=$(H namespace path "$NSA")
  assert_equal "$path" "/run/netns/hcn-$NSA"
  mkdir -p "$TMP/bundle"
  jq --arg root "$FX/bundle/rootfs" --arg ns "$path" '
      .root.path = $root
      | .linux.namespaces = [.linux.namespaces[] | select(.type != "network")] + [{"type": "network", "path": $ns}]
      | .process.args = ["sh", "-c", "ip -o -4 addr show dev eth0; nc -w 3 172.30.0.3 80"]' \
    "$FX/bundle/config.json" >"$TMP/bundle/config.json"
  "$GCS" --transport "unix:$TMP/g.sock" --no-poweroff --log-level debug 2>>"$TMP/gcs.log" &
  GCS_PID=$!
  run "$UVMCTL" gcs run --listen "unix:$TMP/g.sock" --bundle "$TMP/bundle"
  kill "$GCS_PID"; wait "$GCS_PID" || true
  assert_success
  assert_output --partial "inet 172.30.0.2/24"
  assert_output --partial "b 172.30.0.2"
}

@test "a utility VM takes an endpoint as its NIC, configured by its gcs, and gives it back" {
  command -v qemu-system-x86_64 >/dev/null || skip "QEMU is not installed"
  [ -f "$BOOT/vmlinux" ] && [ -f "$BOOT/initrd.img" ] || skip "no boot files: $(tail -n 3 "$BATS_FILE_TMPDIR/bootfiles.log")"
  two_endpoints
  H endpoint detach a
  # uvmctl runs in the test's host namespace too: QEMU opens the tap there.
  U() { nsenter --net="/run/netns/$HOST" "$UVMCTL" --root "$ROOT" "$@"; }
  run U create --accel tcg --memory 512 --cpus 1 --boot-files "$BOOT" --id vm1 --endpoint a
  assert_success
  run H endpoint list
  assert_output --partial "vm:vm1"
  # The guest's eth0 has the endpoint's address, the gateway's default route and the DNS server.
  run U exec vm1 -- sh -c 'ip -o -4 addr show dev eth0; ip route; cat /etc/resolv.conf'
  assert_success
  assert_output --partial "inet 172.30.0.2/24"
  assert_output --partial "default via 172.30.0.1"
  assert_output --partial "nameserver 192.0.2.53"
  run U exec vm1 -- ping -c 1 -W 5 172.30.0.3
  assert_success
  serve in_ns "$NSB" -- 0.0.0.0 80 b
  run U exec vm1 -- nc -w 5 172.30.0.3 80
  assert_output "b 172.30.0.2"
  # Its policies apply to the tap as they did to the veth.
  serve ip netns exec "$OUT" -- 198.51.100.2 9000 outside
  run U exec vm1 -- nc -w 5 198.51.100.2 9000
  assert_output "outside 198.51.100.1"
  run H namespace add-endpoint "$NSA" a
  assert_failure
  assert_output --partial "belongs to the VM vm1"
  run H endpoint delete a
  assert_failure
  assert_output --partial "NIC of the running VM vm1"
  run U delete vm1
  assert_success
  run H -o json endpoint show a
  assert_equal "$(jq -c .Health <<<"$output")" null
  run ip -n "$HOST" -j link show "$(ip -n "$HOST" -j link | jq -r '.[].ifname' | grep ^hcnv | head -1)"
  assert_success
  # Back to a veth pair, it goes into a namespace again.
  run H namespace add-endpoint "$NSA" a
  assert_success
  run in_ns "$NSA" busybox ping -c 1 -W 3 172.30.0.3
  assert_success
}

@test "a Guest namespace is made inside the VM that takes its endpoints; the VM's own namespace keeps none of it" {
  command -v qemu-system-x86_64 >/dev/null || skip "QEMU is not installed"
  [ -f "$BOOT/vmlinux" ] && [ -f "$BOOT/initrd.img" ] || skip "no boot files: $(tail -n 3 "$BATS_FILE_TMPDIR/bootfiles.log")"
  H network create nat0 --subnet 172.30.0.0/24 --dns-server 192.0.2.53 --dns-domain example.test
  POD=$(H namespace create --type Guest)
  H endpoint create --network nat0 --name a --namespace "$POD"
  H endpoint create --network nat0 --name b --namespace "$POD"
  # One ID in two spellings would be one namespace in the guest.
  run H namespace create --type Guest --id "${POD^^}"
  assert_failure
  assert_output --partial "exists"
  # Nothing of it on the host: no network namespace, and no path to give a runtime.
  [ ! -e "/run/netns/hcn-$POD" ]
  run H namespace path "$POD"
  assert_failure
  assert_output --partial "Guest namespace"
  run H namespace list
  assert_output --partial "(in its VM)"
  U() { nsenter --net="/run/netns/$HOST" "$UVMCTL" --root "$ROOT" "$@"; }
  run U create --accel tcg --memory 512 --cpus 1 --boot-files "$BOOT" --id vm1 --network-namespace "$POD"
  assert_success
  run H endpoint list
  assert_output --partial "vm:vm1"
  # The VM's own namespace has neither NIC; the namespace of the pod's ID has both.
  run U exec vm1 -- ip -o -4 addr
  assert_success
  refute_output --partial "172.30.0."
  run U exec vm1 -- nsenter --net="/run/netns/hcn-$POD" sh -c \
    'ip -o -4 addr; ip route; ping -c 1 -W 5 172.30.0.1 >/dev/null && echo gateway-ok'
  assert_success
  assert_output --partial "inet 172.30.0.2/24"
  assert_output --partial "inet 172.30.0.3/24"
  assert_output --partial "default via 172.30.0.1"
  assert_output --partial "gateway-ok"
  run U exec vm1 -- cat "/etc/netns/hcn-$POD/resolv.conf"
  assert_output --partial "nameserver 192.0.2.53"
  run U exec vm1 -- sh -c 'cat /etc/resolv.conf 2>/dev/null; true'
  refute_output --partial "192.0.2.53"
  # The endpoints stay the VM's until it goes.
  run H namespace remove-endpoint "$POD" a
  assert_failure
  assert_output --partial "NIC of the VM vm1"
  run U delete vm1
  assert_success
  run H namespace remove-endpoint "$POD" a
  assert_success
  run H endpoint delete a b
  assert_success
  run H namespace delete "$POD"
  assert_success
}

@test "a container in a utility VM joins the Guest namespace its spec names, with the endpoint and its DNS" {
  command -v qemu-system-x86_64 >/dev/null || skip "QEMU is not installed"
  [ -f "$BOOT/vmlinux" ] && [ -f "$BOOT/initrd.img" ] || skip "no boot files: $(tail -n 3 "$BATS_FILE_TMPDIR/bootfiles.log")"
  [ -f "$FX/bundle/config.json" ] || skip "no fixtures: $(tail -n 3 "$BATS_FILE_TMPDIR/fixtures.log")"
  H network create nat0 --subnet 172.30.0.0/24 --dns-server 192.0.2.53 --dns-domain example.test
  POD=$(H namespace create --type Guest)
  H endpoint create --network nat0 --name a --namespace "$POD"
  NSB=$(H namespace create)
  NAMESPACES=$NSB
  H endpoint create --network nat0 --name b --namespace "$NSB"
  serve in_ns "$NSB" -- 0.0.0.0 80 b
  serve ip netns exec "$OUT" -- 198.51.100.2 9000 outside
  mkdir -p "$TMP/bundle"
  cp -a "$FX/bundle/rootfs" "$TMP/bundle/rootfs"
  jq --arg pod "$POD" '
      .windows.network.networkNamespace = $pod
      | .process.args = ["sh", "-c", "ip -o -4 addr show dev eth0; ip route; cat /etc/resolv.conf; nc -w 5 172.30.0.3 80; nc -w 5 198.51.100.2 9000"]' \
    "$FX/bundle/config.json" >"$TMP/bundle/config.json"
  U() { nsenter --net="/run/netns/$HOST" "$UVMCTL" --root "$ROOT" "$@"; }
  # An endpoint that cannot be a NIC (b is in a host namespace) fails the run before the
  # VM boots, with its own reason, and the one attached before it is given back.
  run U run --accel tcg --boot-files "$BOOT" --endpoint a --endpoint b --bundle "$TMP/bundle"
  assert_failure
  assert_output --partial "is in the host namespace $NSB"
  run H -o json endpoint show a
  assert_equal "$(jq -c .Health <<<"$output")" null
  run U run --accel tcg --boot-files "$BOOT" --endpoint nosuch --bundle "$TMP/bundle"
  assert_failure
  assert_output --partial "nosuch"
  run U run --accel tcg --memory 512 --cpus 1 --boot-files "$BOOT" --network-namespace "$POD" --bundle "$TMP/bundle"
  assert_success
  assert_output --partial "inet 172.30.0.2/24"
  assert_output --partial "default via 172.30.0.1"
  assert_output --partial "nameserver 192.0.2.53"
  assert_output --partial "search example.test"
  assert_output --partial "b 172.30.0.2"
  assert_output --partial "outside 198.51.100.1"
  # The run is over: the endpoint is a veth on the host again, and the VM is gone.
  run H -o json endpoint show a
  assert_equal "$(jq -c .Health <<<"$output")" null
  [ -z "$(ls "$ROOT/vm" 2>/dev/null)" ]
  # A spec naming a namespace the VM has no NIC of is refused, clearly.
  jq '.windows.network.networkNamespace = "no-such-pod"' "$TMP/bundle/config.json" >"$TMP/bundle/c2" &&
    mv "$TMP/bundle/c2" "$TMP/bundle/config.json"
  run U run --accel tcg --memory 512 --cpus 1 --boot-files "$BOOT" --network-namespace "$POD" --bundle "$TMP/bundle"
  assert_failure
  assert_output --partial "no-such-pod has no network adapter in this VM"
  run H -o json endpoint show a
  assert_equal "$(jq -c .Health <<<"$output")" null
}

@test "list and features summarise the host" {
  two_endpoints
  run H list
  assert_success
  assert_output --partial network
  assert_output --partial "$EPA"
  assert_output --partial "$NSB"
  run H -o json list
  assert_equal "$(jq '.Endpoints | length' <<<"$output")" 2
  run H -o json features
  assert_equal "$(jq .SupportedFeatures.API.V2 <<<"$output")" true
  assert_equal "$(jq .SupportedFeatures.DSR <<<"$output")" false
}

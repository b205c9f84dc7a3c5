#!/usr/bin/env bats
# uvmctl's utility VMs: real QEMU guests (TCG) booted from boot files built by
# `uvmctl bootfiles build`, each test with its own state root. Needs root and QEMU.

load helpers

setup_file() {
  export BOOT="$BIN_DIR/boot"
  if [ "$(id -u)" = 0 ] && command -v qemu-system-x86_64 >/dev/null; then
    "$BIN_DIR/tools/uvmctl/uvmctl" bootfiles build --dir "$BOOT" >"$BATS_FILE_TMPDIR/bootfiles.log" 2>&1 || true
  fi
}

setup() {
  TMP=$(mktemp -d /tmp/hcskit-vm-XXXXXX)
  [ "$(id -u)" = 0 ] || skip "utility VMs need root"
  command -v qemu-system-x86_64 >/dev/null || skip "QEMU is not installed"
  [ -f "$BOOT/vmlinux" ] && [ -f "$BOOT/initrd.img" ] || skip "no boot files: $(tail -n 3 "$BATS_FILE_TMPDIR/bootfiles.log")"
  ROOT="$TMP/state"
  VM=(--accel tcg --memory 512 --cpus 1 --boot-files "$BOOT")
}

teardown() {
  # Whatever a failed test left: its VMs, their owners and QEMUs.
  if [ -d "$ROOT/vm" ]; then
    for d in "$ROOT"/vm/*/; do
      [ -d "$d" ] && "$UVMCTL" --root "$ROOT" delete -f "$(basename "$d")" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$TMP"
}

uvm() { "$UVMCTL" --root "$ROOT" "$@"; }

# No QEMU or vmhost of this test's state root is left.
assert_no_processes() {
  run pgrep -f -- "$ROOT"
  assert_failure
}

@test "run: echo through a fresh VM, which is gone afterwards" {
  run uvm run "${VM[@]}" -- echo hello from the guest
  assert_success
  assert_output "hello from the guest"
  run ls "$ROOT/vm"
  assert_output ""
  assert_no_processes
}

@test "run: exit codes, stderr and the guest kernel" {
  run uvm run "${VM[@]}" -- sh -c 'uname -s; echo oops >&2; exit 7'
  assert_equal "$status" 7
  assert_line "Linux"
  assert_line "oops"
}

@test "run -i: stdin is piped into the guest" {
  run bash -c "printf 'one\ntwo\n' | '$UVMCTL' --root '$ROOT' run ${VM[*]} -i -- wc -l"
  assert_success
  assert_output --regexp '^ *2$'
}

@test "run --bundle: a busybox container in the VM" {
  local fx="$TMP/fx"
  "$BATS_TEST_DIRNAME/../fixtures/make-fixtures" "$fx" >/dev/null
  run uvm run "${VM[@]}" --bundle "$fx/bundle" -- sh -c 'cat /etc/os-release 2>/dev/null; echo in-container; hostname; exit 3'
  assert_equal "$status" 3
  assert_line "in-container"
  assert_no_processes
}

@test "create, exec, list, inspect, console, logs, stop, delete" {
  run uvm create "${VM[@]}" --id vm1 --kernel-args hcskit.debug
  assert_success
  assert_output "vm1"
  run uvm exec vm1 -- sh -c 'echo from-exec; exit 5'
  assert_equal "$status" 5
  assert_output "from-exec"
  run bash -c "echo piped | '$UVMCTL' --root '$ROOT' exec -i vm1 -- cat"
  assert_output "piped"
  run uvm list
  assert_success
  assert_line --regexp '^vm1 +Running +uvmctl'
  run uvm -o json list
  assert_output --partial '"Id": "vm1"'
  run uvm inspect vm1
  assert_success
  assert_output --partial '"LinuxKernelDirect"'
  assert_output --partial '"ProtocolVersion": 4'
  run uvm console vm1
  assert_success
  assert_output --partial "hcs-init:"
  run uvm logs vm1
  assert_success
  assert_output --partial "started process"
  run uvm stop vm1
  assert_success
  run uvm list
  assert_line --regexp '^vm1 +Stopped'
  run uvm exec vm1 -- true
  assert_failure 125
  assert_output --partial "not running"
  run uvm start vm1
  assert_success
  run uvm exec vm1 -- echo again
  assert_output "again"
  run uvm delete vm1
  assert_success
  run ls -A "$ROOT/vm"
  assert_output ""
  assert_no_processes
}

@test "disk and share add/remove: a hot-plugged ext4 disk and a Plan9 share are mounted in the guest" {
  mkdir -p "$TMP/content"
  echo "on the disk" >"$TMP/content/file.txt"
  mkfs.ext4 -q -d "$TMP/content" "$TMP/disk.img" 8M
  uvm create "${VM[@]}" --id vm2
  run uvm disk add vm2 "$TMP/disk.img" --lun 3 --read-only
  assert_success
  run uvm exec vm2 -- cat /run/mounts/scsi/m0-3/file.txt
  assert_output "on the disk"
  run uvm inspect vm2
  assert_output --partial "$TMP/disk.img"
  run uvm disk add vm2 "$TMP/disk.img" --lun 3
  assert_failure 125
  assert_output --partial "in use"
  run uvm disk remove vm2 --lun 3
  assert_success
  run uvm exec vm2 -- sh -c 'ls /run/mounts/scsi/m0-3/file.txt; ls /sys/bus/scsi/devices'
  refute_output --partial "0:0:0:3"

  mkdir -p "$TMP/shared"
  echo "from the host" >"$TMP/shared/a.txt"
  run uvm share add vm2 "$TMP/shared"
  assert_success
  assert_output "1"
  run uvm exec vm2 -- sh -c 'cat /run/mounts/plan9/1/a.txt && echo from the guest >/run/mounts/plan9/1/b.txt'
  assert_success
  assert_output "from the host"
  [ "$(cat "$TMP/shared/b.txt")" = "from the guest" ]
  run uvm share add vm2 "$TMP/shared" --name 7 --read-only --mount /run/ro
  assert_success
  run uvm exec vm2 -- sh -c 'cat /run/ro/a.txt; touch /run/ro/c.txt'
  assert_failure
  assert_output --partial "from the host"
  assert_output --partial "Read-only file system"
  [ ! -e "$TMP/shared/c.txt" ]
  run uvm share add vm2 "$TMP/shared" --name 7
  assert_failure 125
  assert_output --partial "already exists"
  run uvm -o json inspect vm2
  assert_output --partial "$TMP/shared"
  # The binds live in the vmhost's mount namespace only.
  run grep -c "/vm/vm2/plan9" /proc/self/mountinfo
  assert_output "0"
  run uvm share remove vm2 --name 1
  assert_success
  run uvm exec vm2 -- sh -c 'ls /run/mounts/plan9/1/a.txt'
  assert_failure
  run uvm share remove vm2 --name 1
  assert_failure 125
  assert_output --partial "no Plan9 share"
  # Deleting a VM with a share still in place leaves the shared directory as it was.
  uvm delete vm2
  [ "$(cat "$TMP/shared/a.txt")" = "from the host" ]
  [ -e "$TMP/shared/b.txt" ]
}

@test "faults: QEMU killed -9 leaves a stopped VM that delete cleans up" {
  uvm create "${VM[@]}" --id vm3
  local qemu
  qemu=$(uvm inspect vm3 | jq -r .Properties.QemuPid)
  # A request in flight when QEMU dies: the exec fails cleanly instead of hanging.
  uvm exec vm3 -- sh -c 'echo started; exec sleep 600' >"$TMP/exec.out" 2>&1 &
  local pending=$! rc=0
  for _ in $(seq 100); do grep -q started "$TMP/exec.out" && break; sleep 0.1; done
  grep -q started "$TMP/exec.out"
  kill -9 "$qemu"
  wait "$pending" || rc=$?
  [ "$rc" = 125 ] || { cat "$TMP/exec.out"; false; }
  grep -q "stopped\|closed" "$TMP/exec.out" || { cat "$TMP/exec.out"; false; }
  for _ in $(seq 50); do uvm list | grep -q 'vm3 *Stopped' && break; sleep 0.2; done
  run uvm list
  assert_line --regexp '^vm3 +Stopped'
  run uvm exec vm3 -- true
  assert_failure 125
  run uvm delete vm3
  assert_success
  run ls -A "$ROOT/vm"
  assert_output ""
  assert_no_processes
}

@test "faults: a killed vmhost takes its QEMU along and its record is pruned" {
  uvm create "${VM[@]}" --id vm4
  local owner qemu
  owner=$(uvm inspect vm4 | jq -r .OwnerPid)
  qemu=$(uvm inspect vm4 | jq -r .Properties.QemuPid)
  kill -9 "$owner"
  for _ in $(seq 50); do kill -0 "$qemu" 2>/dev/null || break; sleep 0.1; done
  run kill -0 "$qemu"
  assert_failure
  run uvm list
  refute_output --partial vm4
  run ls -A "$ROOT/vm"
  assert_output ""
  run uvm exec vm4 -- true
  assert_failure 125
  assert_output --partial "no vm 'vm4'"
}

@test "faults: a guest kernel panic is a clear error with the console's tail" {
  run uvm run "${VM[@]}" --kernel-args "rdinit=/no/such/init" -- true
  assert_failure 125
  assert_output --partial "panic"
  assert_output --partial "console"
  assert_no_processes
}

@test "faults: a boot that never reaches the gcs times out with the console" {
  run uvm run "${VM[@]}" --timeout 1 -- true
  assert_failure 125
  assert_output --partial "did not reach its gcs within 1 s"
  assert_output --partial "console"
  assert_no_processes
}

@test "errors: unknown VMs, bad ids, bad options" {
  run uvm exec nope -- true
  assert_failure 125
  assert_output --partial "no vm 'nope'"
  run uvm delete nope
  assert_failure 125
  run uvm delete -f nope
  assert_success
  run uvm inspect ../x
  assert_failure 125
  run uvm run "${VM[@]}" --memory 10 -- true
  assert_failure 125
  assert_output --partial "memory"
  run uvm run --accel tcg --boot-files "$TMP/none" -- true
  assert_failure 125
  run uvm create "${VM[@]}" --id dup --no-start
  assert_success
  run uvm create "${VM[@]}" --id dup --no-start
  assert_failure 125
  assert_output --partial "exists"
  uvm delete dup
}

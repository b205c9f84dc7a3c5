# fish completion for uvmctl, the hcskit tool for utility VMs and their guest agents.

# __hcskit_address (transport addresses) is defined once, in gcs.fish beside this file.
functions -q __hcskit_address; or source (status dirname)/gcs.fish

# True when the words typed so far (options left out) are exactly $argv.
function __uvmctl_at
    set -l words (commandline -opc)
    set -e words[1]
    set -l plain
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --root --log-level --log-format -o --output
                set skip 1
            case '-*'
            case '*'
                set -a plain $w
        end
        # Stop at the verb: what follows (ids, commands) belongs to it.
        switch "$plain"
            case 'gcs exec' 'gcs run' 'disk add' 'disk remove' 'share add' 'share remove' 'bootfiles build'
                break
            case run create start exec list ls inspect console logs stop kill pause resume delete rm
                break
        end
    end
    test "$plain" = "$argv"
end

# The words of "uvmctl gcs exec" from its command on (its options left out);
# nothing while the command has not been typed yet.
function __uvmctl_exec_command
    set -l words (commandline -opc)
    set -l i (contains -i -- exec $words); or return 0
    set -l skip 0
    set -l n (count $words)
    while test $i -lt $n
        set i (math $i + 1)
        set -l w $words[$i]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --
                test $i -lt $n; and printf '%s\n' $words[(math $i + 1)..-1]
                return 0
            case --listen -w --cwd -e --env --timeout
                set skip 1
            case '-*'
            case '*'
                printf '%s\n' $words[$i..-1]
                return 0
        end
    end
end

function __uvmctl_exec_has_command
    set -l cmd (__uvmctl_exec_command)
    set -q cmd[1]; or contains -- -- (commandline -opc)
end

# Completes the command run in the guest, and its arguments, as if typed alone.
function __uvmctl_complete_command
    set -l cmd (__uvmctl_exec_command)
    if set -q cmd[1]
        complete -C (string join ' ' -- (string escape -- $cmd) (commandline -ct))
    else
        __fish_complete_command
    end
end

complete -c uvmctl -f

# uvmctl
complete -c uvmctl -n '__uvmctl_at' -s h -l help -d 'Print help and exit'
complete -c uvmctl -n '__uvmctl_at' -l version -d 'Print version and exit'
complete -c uvmctl -n '__uvmctl_at' -l root -x -a '(__fish_complete_directories)' -d 'The state root'
complete -c uvmctl -n '__uvmctl_at' -l log-level -x -a 'trace debug info warn error critical off' -d 'Least severe level to log'
complete -c uvmctl -n '__uvmctl_at' -l log-format -x -a 'text json' -d 'Format of the log on stderr'
complete -c uvmctl -n '__uvmctl_at' -s o -l output -x -a 'table json' -d 'How results and errors are printed'
complete -c uvmctl -n '__uvmctl_at' -a run -d 'Boot a VM, run a command or OCI bundle in it, remove it'
complete -c uvmctl -n '__uvmctl_at' -a create -d 'Create a VM owned by a background vmhost'
complete -c uvmctl -n '__uvmctl_at' -a start -d 'Boot a created or stopped VM'
complete -c uvmctl -n '__uvmctl_at' -a exec -d 'Run a command in a running VM'
complete -c uvmctl -n '__uvmctl_at' -a 'list ls' -d 'List the VMs and their states'
complete -c uvmctl -n '__uvmctl_at' -a inspect -d 'Print a VM as JSON'
complete -c uvmctl -n '__uvmctl_at' -a console -d 'Print the VM serial console'
complete -c uvmctl -n '__uvmctl_at' -a logs -d 'Print the log of the VM gcs'
complete -c uvmctl -n '__uvmctl_at' -a stop -d 'Shut a VM down gracefully'
complete -c uvmctl -n '__uvmctl_at' -a kill -d 'Terminate a VM at once'
complete -c uvmctl -n '__uvmctl_at' -a pause -d 'Pause a running VM'
complete -c uvmctl -n '__uvmctl_at' -a resume -d 'Resume a paused VM'
complete -c uvmctl -n '__uvmctl_at' -a 'delete rm' -d 'Terminate VMs and remove them'
complete -c uvmctl -n '__uvmctl_at' -a disk -d 'Hot-plug SCSI disks on a running VM'
complete -c uvmctl -n '__uvmctl_at' -a share -d 'Share host directories with a running VM (Plan9)'
complete -c uvmctl -n '__uvmctl_at' -a bootfiles -d 'The utility VM kernel and initrd'
complete -c uvmctl -n '__uvmctl_at' -a gcs -d 'Talk to a gcs directly (the guest agent dials in)'

# uvmctl gcs
complete -c uvmctl -n '__uvmctl_at gcs' -s h -l help -d 'Print help and exit'
complete -c uvmctl -n '__uvmctl_at gcs' -a exec -d 'Wait for a gcs to dial in and run a command through it'
complete -c uvmctl -n '__uvmctl_at gcs' -a run -d 'Wait for a gcs to dial in and run an OCI bundle as a container'

# uvmctl gcs exec
set -l exec_opts '__uvmctl_at gcs exec; and not __uvmctl_exec_has_command'
complete -c uvmctl -n $exec_opts -s h -l help -d 'Print help and exit'
complete -c uvmctl -n $exec_opts -l listen -x -a '(__hcskit_address host)' -d 'Where the gcs dials in'
complete -c uvmctl -n $exec_opts -s i -l interactive -d 'Relay stdin to the process'
complete -c uvmctl -n $exec_opts -s t -l tty -d 'Give the process a terminal'
complete -c uvmctl -n $exec_opts -s w -l cwd -x -d 'Working directory in the guest'
complete -c uvmctl -n $exec_opts -s e -l env -x -d 'KEY=VALUE for the process environment'
complete -c uvmctl -n $exec_opts -l timeout -x -d 'Seconds to wait for the gcs to connect'
complete -c uvmctl -n $exec_opts -l guest-log -d 'Copy the guest agent log (port 109) to stderr'
complete -c uvmctl -n '__uvmctl_at gcs exec' -a '(__uvmctl_complete_command)'

# uvmctl gcs run (after "--" come the container's own command and arguments)
set -l run_opts '__uvmctl_at gcs run; and not contains -- -- (commandline -opc)'
complete -c uvmctl -n $run_opts -s h -l help -d 'Print help and exit'
complete -c uvmctl -n $run_opts -l listen -x -a '(__hcskit_address host)' -d 'Where the gcs dials in'
complete -c uvmctl -n $run_opts -l bundle -x -a '(__fish_complete_directories)' -d 'The OCI bundle directory'
complete -c uvmctl -n $run_opts -l id -x -d 'Container id'
complete -c uvmctl -n $run_opts -l layer -x -d 'Read-only layer, a guest path (first on top)'
complete -c uvmctl -n $run_opts -l scratch -x -d 'Scratch directory in the guest'
complete -c uvmctl -n $run_opts -s i -l interactive -d 'Relay stdin to the container'
complete -c uvmctl -n $run_opts -s t -l tty -d 'Give the container a terminal'
complete -c uvmctl -n $run_opts -s e -l env -x -d 'KEY=VALUE for the container environment'
complete -c uvmctl -n $run_opts -l timeout -x -d 'Seconds to wait for the gcs to connect'
complete -c uvmctl -n $run_opts -l stop-timeout -x -d 'Seconds a graceful shutdown may take'
complete -c uvmctl -n $run_opts -l guest-log -d 'Copy the guest agent log (port 109) to stderr'

# The ids of the VMs: the directories under <root>/vm (--root, else $HCSKIT_ROOT).
function __uvmctl_vm_ids
    set -l root /run/hcskit
    set -q HCSKIT_ROOT; and set root $HCSKIT_ROOT
    set -l words (commandline -opc)
    set -l i (contains -i -- --root $words); and set root $words[(math $i + 1)]
    for d in $root/vm/*/
        basename $d
    end
end

# True when the verb ($argv, e.g. "stop" or "disk add") has been typed and no
# positional word (the VM id) follows it yet.
function __uvmctl_wants_id
    __uvmctl_at $argv; or return 1
    set -l words (commandline -opc)
    set -l i (contains -i -- $argv[-1] $words); or return 1
    set -l skip 0
    for w in $words[(math $i + 1)..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --timeout -e --env -w --cwd --lun --controller --mount --name
                set skip 1
            case '-*'
            case '*'
                return 1
        end
    end
    return 0
end

for verb in run create
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l id -x -d 'The VM id'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -s m -l memory -x -d 'Memory in MB'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -s c -l cpus -x -d 'Virtual processors'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l boot-files -x -a '(__fish_complete_directories)' -d 'Directory with vmlinux and initrd.img'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l kernel -r -F -d 'The kernel (vmlinux)'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l initrd -r -F -d 'The initrd'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l kernel-args -x -d 'Extra kernel command line'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l accel -x -a 'auto kvm tcg' -d 'Acceleration'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l qemu -r -F -d 'The QEMU binary'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l timeout -x -d 'Seconds the VM may take to boot'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l endpoint -x -d 'An HCN endpoint that becomes a NIC'
    complete -c uvmctl -n "__uvmctl_at $verb; and not contains -- -- (commandline -opc)" -l network-namespace -x -d 'An HCN namespace whose endpoints become NICs'
    complete -c uvmctl -n "__uvmctl_at $verb" -s h -l help -d 'Print help and exit'
end
set -l run_vm '__uvmctl_at run; and not contains -- -- (commandline -opc)'
complete -c uvmctl -n $run_vm -s i -l interactive -d 'Relay stdin to the process'
complete -c uvmctl -n $run_vm -s t -l tty -d 'Give the process a terminal'
complete -c uvmctl -n $run_vm -s e -l env -x -d 'KEY=VALUE for the process environment'
complete -c uvmctl -n $run_vm -s w -l cwd -x -d 'Working directory in the guest'
complete -c uvmctl -n $run_vm -l guest-log -d 'Copy the gcs log to stderr'
complete -c uvmctl -n $run_vm -l bundle -x -a '(__fish_complete_directories)' -d 'Run this OCI bundle as a container'
complete -c uvmctl -n '__uvmctl_at create' -l no-start -d 'Record the VM but do not boot it'

# Verbs that take VM ids.
for verb in start exec inspect console logs stop kill pause resume
    complete -c uvmctl -n "__uvmctl_at $verb" -s h -l help -d 'Print help and exit'
    complete -c uvmctl -n "__uvmctl_wants_id $verb" -a '(__uvmctl_vm_ids)' -d 'VM'
end
complete -c uvmctl -n '__uvmctl_at start' -l timeout -x -d 'Seconds the boot may take'
complete -c uvmctl -n '__uvmctl_at stop' -l timeout -x -d 'Seconds the guest may take to power off'
complete -c uvmctl -n '__uvmctl_at console' -s f -l follow -d 'Keep printing what is added'
complete -c uvmctl -n '__uvmctl_at logs' -s f -l follow -d 'Keep printing what is added'
set -l exec_vm '__uvmctl_at exec; and not contains -- -- (commandline -opc)'
complete -c uvmctl -n $exec_vm -s i -l interactive -d 'Relay stdin to the process'
complete -c uvmctl -n $exec_vm -s t -l tty -d 'Give the process a terminal'
complete -c uvmctl -n $exec_vm -s e -l env -x -d 'KEY=VALUE for the process environment'
complete -c uvmctl -n $exec_vm -s w -l cwd -x -d 'Working directory in the guest'
for verb in delete rm
    complete -c uvmctl -n "__uvmctl_at $verb" -s h -l help -d 'Print help and exit'
    complete -c uvmctl -n "__uvmctl_at $verb" -s f -l force -d 'Kill an unresponsive owner, ignore unknown ids'
    complete -c uvmctl -n "__uvmctl_at $verb" -a '(__uvmctl_vm_ids)' -d 'VM'
end
complete -c uvmctl -n '__uvmctl_at list; or __uvmctl_at ls' -s h -l help -d 'Print help and exit'

# uvmctl disk
complete -c uvmctl -n '__uvmctl_at disk' -s h -l help -d 'Print help and exit'
complete -c uvmctl -n '__uvmctl_at disk' -a add -d 'Attach a raw disk image and mount it in the guest'
complete -c uvmctl -n '__uvmctl_at disk' -a remove -d 'Unmount a disk in the guest and detach it'
for verb in 'disk add' 'disk remove'
    complete -c uvmctl -n "__uvmctl_at $verb" -s h -l help -d 'Print help and exit'
    complete -c uvmctl -n "__uvmctl_at $verb" -l lun -x -d 'The LUN (0-63)'
    complete -c uvmctl -n "__uvmctl_at $verb" -l controller -x -a '0 1 2 3' -d 'The SCSI controller'
    complete -c uvmctl -n "__uvmctl_at $verb" -l mount -x -d 'Mount path in the guest'
    complete -c uvmctl -n "__uvmctl_wants_id $verb" -a '(__uvmctl_vm_ids)' -d 'VM'
end
complete -c uvmctl -n '__uvmctl_at disk add' -l read-only -d 'Attach and mount it read-only'
complete -c uvmctl -n '__uvmctl_at disk add; and not __uvmctl_wants_id disk add' -F

# uvmctl share
complete -c uvmctl -n '__uvmctl_at share' -s h -l help -d 'Print help and exit'
complete -c uvmctl -n '__uvmctl_at share' -a add -d 'Share a host directory and mount it in the guest'
complete -c uvmctl -n '__uvmctl_at share' -a remove -d 'Unmount a share in the guest and stop sharing it'
for verb in 'share add' 'share remove'
    complete -c uvmctl -n "__uvmctl_at $verb" -s h -l help -d 'Print help and exit'
    complete -c uvmctl -n "__uvmctl_at $verb" -l name -x -d 'The share name (a number)'
    complete -c uvmctl -n "__uvmctl_at $verb" -l mount -x -d 'Mount path in the guest'
    complete -c uvmctl -n "__uvmctl_wants_id $verb" -a '(__uvmctl_vm_ids)' -d 'VM'
end
complete -c uvmctl -n '__uvmctl_at share add' -l read-only -d 'Share and mount it read-only'
complete -c uvmctl -n '__uvmctl_at share add; and not __uvmctl_wants_id share add' -a '(__fish_complete_directories)'

# uvmctl bootfiles
complete -c uvmctl -n '__uvmctl_at bootfiles' -s h -l help -d 'Print help and exit'
complete -c uvmctl -n '__uvmctl_at bootfiles' -a build -d 'Build vmlinux and initrd.img'
set -l bf '__uvmctl_at bootfiles build'
complete -c uvmctl -n $bf -s h -l help -d 'Print help and exit'
complete -c uvmctl -n $bf -l dir -x -a '(__fish_complete_directories)' -d 'Output directory'
complete -c uvmctl -n $bf -l kernel-package -r -F -d 'linux-image package or .deb file'
complete -c uvmctl -n $bf -l gcs -r -F -d 'Static gcs binary'
complete -c uvmctl -n $bf -l init -r -F -d 'Static hcs-init binary'
complete -c uvmctl -n $bf -l force -d 'Rebuild even when up to date'

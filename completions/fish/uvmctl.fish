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
            case --log-level --log-format -o --output
                set skip 1
            case '-*'
            case '*'
                set -a plain $w
        end
        # Stop at the verb: what follows belongs to it.
        if test "$plain" = "gcs exec"; or test "$plain" = "gcs run"
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
complete -c uvmctl -n '__uvmctl_at' -l log-level -x -a 'trace debug info warn error critical off' -d 'Least severe level to log'
complete -c uvmctl -n '__uvmctl_at' -l log-format -x -a 'text json' -d 'Format of the log on stderr'
complete -c uvmctl -n '__uvmctl_at' -s o -l output -x -a 'table json' -d 'How results and errors are printed'
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

# fish completion for gcs, the hcskit guest compute service.

# Transport addresses for the word being completed; $argv[1] is "host" or "guest".
function __hcskit_address
    set -l tok (commandline -ct)
    # fish keeps "--opt=value" as one token.
    set tok (string replace -r '^--[a-z-]+=' '' -- $tok)
    if string match -qr '^(mux\+)?unix:' -- $tok
        set -l head (string match -r '^(?:mux\+)?unix:' -- $tok)
        set -l path (string replace -r '^(?:mux\+)?unix:' '' -- $tok)
        for f in (__fish_complete_path $path)
            echo $head$f
        end
    else if string match -qr '^(mux\+)?virtio-serial:' -- $tok
        set -l head (string match -r '^(?:mux\+)?virtio-serial:' -- $tok)
        for n in /sys/class/virtio-ports/*/name
            echo $head(cat $n)
        end
    else
        printf '%s\n' unix:\t'unix socket PATH (port P at PATH_P)' \
            vsock\t'AF_VSOCK, the host is CID 2' vsock:\t'AF_VSOCK to a CID' \
            mux+unix:\t'all ports over one unix socket' mux+vsock\t'all ports over one vsock stream'
        if test "$argv[1]" = guest
            printf '%s\n' virtio-serial:\t'virtio-serial port NAME (bridge only)' \
                mux+virtio-serial:\t'all ports over one virtio-serial port'
        end
    end
end

complete -c gcs -f
complete -c gcs -s h -l help -d 'Print help and exit'
complete -c gcs -l version -d 'Print version and exit'
complete -c gcs -l transport -x -a '(__hcskit_address guest)' -d 'How to reach the host'
complete -c gcs -l log-level -x -a 'trace debug info warn error critical off' -d 'Least severe level to log'
complete -c gcs -l log-format -x -a 'text json' -d 'Format of the log on stderr'
complete -c gcs -l root -x -a '(__fish_complete_directories)' -d 'Where bundles, runtime state and work files live'
complete -c gcs -l runtime -x -a 'runc crun auto' -d 'The OCI runtime'
complete -c gcs -l cgroup-parent -x -d 'The cgroup containers are placed under'
complete -c gcs -l scsi-devices -x -a '(__fish_complete_directories)' -d 'Where SCSI disks appear'
complete -c gcs -l dev-dir -x -a '(__fish_complete_directories)' -d 'Where block device nodes are'
complete -c gcs -l wait-for -r -F -d 'Storage requests wait for this file'
complete -c gcs -l etc-dir -x -a '(__fish_complete_directories)' -d 'Where the network adapters DNS settings go'
complete -c gcs -l no-poweroff -d 'On a shutdown request, exit instead of powering off'

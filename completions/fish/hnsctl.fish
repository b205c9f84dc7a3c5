# fish completion for hnsctl, the hcskit tool for HNS networks, endpoints, namespaces,
# policies and load balancers.

# The plain words typed so far, one a line: the object, its verb, then the verb's
# positional words. Options and their values are left out, and aliases made whole
# (net, ep, ns, lb; ls, and rm: delete, or remove for policies).
function __hnsctl_words
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
            case --root --log-level --log-format -o --output -f --file --type --subnet --dns-server --dns-domain \
                --network --name --ip --mac --namespace --id --port-mapping --action --direction --protocols \
                --local-addresses --remote-addresses --local-ports --remote-ports --priority --endpoint --vip \
                --protocol --external-port --internal-port --distribution
                set skip 1
            case '-*'
            case '*'
                switch (count $plain)
                    case 0
                        switch $w
                            case net
                                set w network
                            case ep
                                set w endpoint
                            case ns
                                set w namespace
                            case lb
                                set w loadbalancer
                        end
                    case 1
                        switch $w
                            case ls
                                set w list
                            case rm
                                if test "$plain[1]" = policy
                                    set w remove
                                else
                                    set w delete
                                end
                        end
                end
                set -a plain $w
        end
    end
    printf '%s\n' $plain
end

# True when the plain words typed so far are exactly $argv.
function __hnsctl_at
    set -l w (__hnsctl_words)
    test "$w" = "$argv"
end

# True when the plain words typed so far begin with $argv (an object and its verb):
# the verb's options apply, whatever follows.
function __hnsctl_verb
    set -l w (__hnsctl_words)
    set -l n (count $argv)
    test (count $w) -ge $n; and test "$w[1..$n]" = "$argv"
end

# True when $argv[2..] (an object and its verb) has been typed with $argv[1] of its
# positional words after it.
function __hnsctl_pos
    set -l w (__hnsctl_words)
    set -l verb $argv[2..-1]
    set -l n (count $verb)
    test (count $w) -eq (math $n + $argv[1]); and test "$w[1..$n]" = "$verb"
end

# The objects of kind $argv[1] (network, endpoint, namespace, loadbalancer) as
# `hnsctl -o json KIND list` prints them: the "ID" and "Name" of each, the only keys one
# level into the array (four spaces in). The state root is the one given with --root,
# else hnsctl's default ($HCSKIT_ROOT or /run/hcskit).
function __hnsctl_objects
    set -l words (commandline -opc)
    set -l cmd $words[1]
    command -q $cmd; or set cmd hnsctl
    command -q $cmd; or return 0
    set -l root
    set -l i (contains -i -- --root $words); and set root --root $words[(math $i + 1)]
    for w in $words
        string match -q -- '--root=*' $w; and set root $w
    end
    $cmd $root -o json $argv[1] list 2>/dev/null | string replace -rf '^    "(?:ID|Name)": "([^"\\\\\s]*)",?$' '$1'
end

complete -c hnsctl -f

# hnsctl
complete -c hnsctl -n '__hnsctl_at' -s h -l help -d 'Print help and exit'
complete -c hnsctl -n '__hnsctl_at' -l version -d 'Print version and exit'
complete -c hnsctl -n '__hnsctl_at' -l root -x -a '(__fish_complete_directories)' -d 'The state root'
complete -c hnsctl -n '__hnsctl_at' -l log-level -x -a 'trace debug info warn error critical off' -d 'Least severe level to log'
complete -c hnsctl -n '__hnsctl_at' -l log-format -x -a 'text json' -d 'Format of the log on stderr'
complete -c hnsctl -n '__hnsctl_at' -s o -l output -x -a 'table json' -d 'How results and errors are printed'
complete -c hnsctl -n '__hnsctl_at' -a 'network net' -d 'HNS networks: a bridge with its subnets, NAT and rules'
complete -c hnsctl -n '__hnsctl_at' -a 'endpoint ep' -d 'HNS endpoints: an address, a veth pair, policies'
complete -c hnsctl -n '__hnsctl_at' -a 'namespace ns' -d 'HNS namespaces: a network namespace holding endpoints'
complete -c hnsctl -n '__hnsctl_at' -a policy -d 'The policies of an endpoint: PortMapping, ACL, OutBoundNAT'
complete -c hnsctl -n '__hnsctl_at' -a 'loadbalancer lb' -d 'HNS load balancers: DNAT from frontend VIPs to endpoints'
complete -c hnsctl -n '__hnsctl_at' -a list -d 'List every network, endpoint, namespace and load balancer'
complete -c hnsctl -n '__hnsctl_at' -a features -d 'Print the HNS version and the features of this host'
complete -c hnsctl -n '__hnsctl_verb list; or __hnsctl_verb features' -s h -l help -d 'Print help and exit'

# Every object and verb takes --help.
for obj in network endpoint namespace policy loadbalancer
    complete -c hnsctl -n "__hnsctl_verb $obj" -s h -l help -d 'Print help and exit'
end

# Options with a value in more than one place.
set -l file_verbs '__hnsctl_verb network create; or __hnsctl_verb endpoint create; or __hnsctl_verb namespace create; or __hnsctl_verb loadbalancer create; or __hnsctl_verb policy add; or __hnsctl_verb policy remove'
complete -c hnsctl -n $file_verbs -s f -l file -r -F -d 'An HCN JSON document (- for stdin)'

# hnsctl network
complete -c hnsctl -n '__hnsctl_at network' -a 'list ls' -d 'List the networks'
complete -c hnsctl -n '__hnsctl_at network' -a show -d 'Print a network (HCN JSON)'
complete -c hnsctl -n '__hnsctl_at network' -a create -d 'Create a network from flags or an HCN document'
complete -c hnsctl -n '__hnsctl_at network' -a 'delete rm' -d 'Delete networks'
complete -c hnsctl -n '__hnsctl_pos 0 network show' -a '(__hnsctl_objects network)' -d 'Network'
complete -c hnsctl -n '__hnsctl_verb network delete' -a '(__hnsctl_objects network)' -d 'Network'
set -l net_create '__hnsctl_verb network create'
complete -c hnsctl -n $net_create -l type -x -a 'NAT ICS Transparent L2Bridge Private' -d 'The network type'
complete -c hnsctl -n $net_create -l subnet -x -d 'An IPv4 subnet, e.g. 172.30.0.0/24 (repeatable)'
complete -c hnsctl -n $net_create -l dns-server -x -d 'A DNS server (repeatable)'
complete -c hnsctl -n $net_create -l dns-domain -x -d 'The DNS domain'

# hnsctl endpoint
complete -c hnsctl -n '__hnsctl_at endpoint' -a 'list ls' -d 'List the endpoints'
complete -c hnsctl -n '__hnsctl_at endpoint' -a show -d 'Print an endpoint (HCN JSON)'
complete -c hnsctl -n '__hnsctl_at endpoint' -a create -d 'Create an endpoint from flags or an HCN document'
complete -c hnsctl -n '__hnsctl_at endpoint' -a 'delete rm' -d 'Delete endpoints'
complete -c hnsctl -n '__hnsctl_at endpoint' -a attach -d 'Move an endpoint interface into a namespace'
complete -c hnsctl -n '__hnsctl_at endpoint' -a detach -d 'Take an endpoint interface out of its namespace'
complete -c hnsctl -n '__hnsctl_verb endpoint list' -l network -x -a '(__hnsctl_objects network)' -d 'Only this network'
for verb in show attach detach
    complete -c hnsctl -n "__hnsctl_pos 0 endpoint $verb" -a '(__hnsctl_objects endpoint)' -d 'Endpoint'
end
complete -c hnsctl -n '__hnsctl_verb endpoint delete' -a '(__hnsctl_objects endpoint)' -d 'Endpoint'
complete -c hnsctl -n '__hnsctl_verb endpoint attach' -l namespace -x -a '(__hnsctl_objects namespace)' -d 'The namespace'
set -l ep_create '__hnsctl_verb endpoint create'
complete -c hnsctl -n $ep_create -l network -x -a '(__hnsctl_objects network)' -d 'Its network'
complete -c hnsctl -n $ep_create -l name -x -d 'Its name'
complete -c hnsctl -n $ep_create -l ip -x -d 'The address to take (default: the lowest free one)'
complete -c hnsctl -n $ep_create -l mac -x -d 'The MAC address (default: 00-15-5D and the address)'
complete -c hnsctl -n $ep_create -l namespace -x -a '(__hnsctl_objects namespace)' -d 'Attach it to this namespace at once'

# hnsctl namespace
complete -c hnsctl -n '__hnsctl_at namespace' -a 'list ls' -d 'List the namespaces'
complete -c hnsctl -n '__hnsctl_at namespace' -a show -d 'Print a namespace (HCN JSON)'
complete -c hnsctl -n '__hnsctl_at namespace' -a path -d 'Print the path of a namespace'
complete -c hnsctl -n '__hnsctl_at namespace' -a create -d 'Create a namespace'
complete -c hnsctl -n '__hnsctl_at namespace' -a 'delete rm' -d 'Delete namespaces'
complete -c hnsctl -n '__hnsctl_at namespace' -a add-endpoint -d 'Move an endpoint into the namespace'
complete -c hnsctl -n '__hnsctl_at namespace' -a remove-endpoint -d 'Take an endpoint out of the namespace'
for verb in show path add-endpoint remove-endpoint
    complete -c hnsctl -n "__hnsctl_pos 0 namespace $verb" -a '(__hnsctl_objects namespace)' -d 'Namespace'
end
for verb in add-endpoint remove-endpoint
    complete -c hnsctl -n "__hnsctl_pos 1 namespace $verb" -a '(__hnsctl_objects endpoint)' -d 'Endpoint'
end
complete -c hnsctl -n '__hnsctl_verb namespace delete' -a '(__hnsctl_objects namespace)' -d 'Namespace'
complete -c hnsctl -n '__hnsctl_verb namespace create' -l id -x -d 'Its ID (default: a new GUID)'
complete -c hnsctl -n '__hnsctl_verb namespace create' -l type -x -a 'Host HostDefault Guest GuestDefault' -d 'The namespace type'

# hnsctl policy
complete -c hnsctl -n '__hnsctl_at policy' -a 'list ls' -d 'Print the policies of an endpoint'
complete -c hnsctl -n '__hnsctl_at policy' -a add -d 'Add policies to an endpoint'
complete -c hnsctl -n '__hnsctl_at policy' -a 'remove rm' -d 'Remove policies from an endpoint'
for verb in list add remove
    complete -c hnsctl -n "__hnsctl_pos 0 policy $verb" -a '(__hnsctl_objects endpoint)' -d 'Endpoint'
end
for verb in add remove
    set -l p "__hnsctl_verb policy $verb"
    complete -c hnsctl -n $p -l port-mapping -x -a 'tcp: udp:' -d 'PROTOCOL:EXTERNAL:INTERNAL[:VIP] (repeatable)'
    complete -c hnsctl -n $p -l action -x -a 'Allow Block' -d 'An ACL: Allow or Block'
    complete -c hnsctl -n $p -l direction -x -a 'In Out' -d 'The ACL direction: In (to the endpoint) or Out'
    complete -c hnsctl -n $p -l protocols -x -a '6 17 6,17' -d 'The ACL IANA protocol numbers'
    complete -c hnsctl -n $p -l local-addresses -x -d 'The ACL endpoint-side addresses or prefixes'
    complete -c hnsctl -n $p -l remote-addresses -x -d 'The ACL other-side addresses or prefixes'
    complete -c hnsctl -n $p -l local-ports -x -d 'The ACL endpoint-side ports or ranges'
    complete -c hnsctl -n $p -l remote-ports -x -d 'The ACL other-side ports or ranges'
    complete -c hnsctl -n $p -l priority -x -d 'The ACL priority (lower first)'
end
complete -c hnsctl -n '__hnsctl_verb policy remove' -l all -d 'Remove every policy of the endpoint'

# hnsctl loadbalancer
complete -c hnsctl -n '__hnsctl_at loadbalancer' -a 'list ls' -d 'List the load balancers'
complete -c hnsctl -n '__hnsctl_at loadbalancer' -a show -d 'Print a load balancer (HCN JSON)'
complete -c hnsctl -n '__hnsctl_at loadbalancer' -a create -d 'Create a load balancer from flags or an HCN document'
complete -c hnsctl -n '__hnsctl_at loadbalancer' -a 'delete rm' -d 'Delete load balancers'
complete -c hnsctl -n '__hnsctl_pos 0 loadbalancer show' -a '(__hnsctl_objects loadbalancer)' -d 'Load balancer'
complete -c hnsctl -n '__hnsctl_verb loadbalancer delete' -a '(__hnsctl_objects loadbalancer)' -d 'Load balancer'
set -l lb_create '__hnsctl_verb loadbalancer create'
complete -c hnsctl -n $lb_create -l endpoint -x -a '(__hnsctl_objects endpoint)' -d 'A backend endpoint (repeatable)'
complete -c hnsctl -n $lb_create -l vip -x -d 'A frontend VIP (repeatable; default: the host addresses)'
complete -c hnsctl -n $lb_create -l protocol -x -a 'tcp udp' -d 'The protocol'
complete -c hnsctl -n $lb_create -l external-port -x -d 'The port clients call'
complete -c hnsctl -n $lb_create -l internal-port -x -d 'The endpoints port'
complete -c hnsctl -n $lb_create -l distribution -x -a 'none sourceip sourceipprotocol' -d 'How an endpoint is chosen'

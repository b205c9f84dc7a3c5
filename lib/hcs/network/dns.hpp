// network/dns: the comma lists HCN and the guest protocol carry (ACL addresses and
// ports, DNSServerList, DNSSuffix), and resolv.conf as a namespace or a guest gets it.
#pragma once

#include <string>
#include <vector>

namespace hcs::network {

// "a, b,,c" → {"a", "b", "c"}: items trimmed, empty ones dropped.
std::vector<std::string> split_list(const std::string& csv);

// resolv.conf's text: a search line (when there are search domains), one nameserver
// line per server, one options line per option.
std::string resolv_conf(const std::vector<std::string>& search, const std::vector<std::string>& servers,
                        const std::vector<std::string>& options = {});

}  // namespace hcs::network

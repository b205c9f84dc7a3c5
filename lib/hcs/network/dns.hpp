// network/dns: the comma lists HCN and the guest protocol carry (ACL addresses and
// ports, DNSServerList, DNSSuffix), and resolv.conf as a namespace or a guest gets it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace hcs::network {

// "a, b,,c" → {"a", "b", "c"}: items trimmed, empty ones dropped.
std::vector<std::string> split_list(const std::string& csv);

// resolv.conf's text: a search line (when there are search domains), one nameserver
// line per server, one options line per option.
std::string resolv_conf(const std::vector<std::string>& search, const std::vector<std::string>& servers,
                        const std::vector<std::string>& options = {});

// <etc>/netns/<netns name>/resolv.conf: where `ip netns exec` finds a named network
// namespace's DNS settings (and the gcs, for the containers that join one).
std::filesystem::path netns_resolv_conf(const std::filesystem::path& etc, const std::string& netns_name);
// Writes `text` to `file` atomically (a new file renamed over it), making its directory;
// throws hcs::Error.
void write_resolv_conf(const std::filesystem::path& file, const std::string& text);
// Removes a named namespace's resolv.conf and its directory; either missing is fine.
void remove_netns_resolv_conf(const std::filesystem::path& etc, const std::string& netns_name);

}  // namespace hcs::network

// network/linux/nftables: nft scripts run through libnftables, each as one netlink
// transaction (all of it or none), in the calling thread's network namespace.
#pragma once

#include <string>

namespace hcs::network::nftables {

// Throws hcs::Error with nft's own message (which quotes the offending line).
void run(const std::string& script);
// `nft list ruleset` / `nft list tables`, for inspection and tests.
std::string list(const std::string& what = "ruleset");

}  // namespace hcs::network::nftables

// JSON conventions shared by every module: ordered objects (fields keep the order
// they were written or read in, as Go's encoder does), strict parsing into hcs::Error.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace hcs {

using Json = nlohmann::ordered_json;

// Parses `text`; a syntax error becomes Error(HrVmcomputeInvalidJSON) naming `what`.
Json parse_json(std::string_view text, std::string_view what);

// Compact text; invalid UTF-8 in strings is replaced rather than thrown on, so a
// process's odd bytes can never stop a response from being written.
std::string dump_json(const Json& j);

// j[key] when j is an object that has it and it is not null; else nullptr. For reading
// documents of unknown shape without ever throwing.
const Json* json_member(const Json& j, const char* key);

}  // namespace hcs

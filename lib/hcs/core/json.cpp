#include "hcs/core/json.hpp"

#include "hcs/core/error.hpp"

namespace hcs {

Json parse_json(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    throw Error(hr::VmcomputeInvalidJSON, std::string(what) + " is not valid JSON: " + e.what());
  }
}

std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

const Json* json_member(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace hcs

// Records: C++ structs that read and write JSON objects through a field table.
//
//   struct Version {
//     int32_t major = 0, minor = 0;
//     Json extra;   // unknown fields: kept when read, written back after the known ones
//     static auto fields() { return std::make_tuple(field("Major", &Version::major), ...); }
//   };
//
// A field marked `omitempty` is left out when it equals its default value, as Go's
// encoder does. `embed(&T::base)` flattens another record's fields into this object
// (Go's embedded structs). JsonString<T> is a field whose JSON value is a string that
// itself holds the JSON of T (hcsshim's "AnyInString"). Type errors on reading become
// hcs::Error(HrVmcomputeInvalidJSON) naming the field.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"

namespace hcs::schema {

enum class Omit { Never, Empty };

template <class T, class M>
struct Field {
  const char* name;
  M T::*member;
  Omit omit;
};
template <class T, class M>
constexpr Field<T, M> field(const char* name, M T::*member, Omit omit = Omit::Never) {
  return {name, member, omit};
}
template <class T, class M>
constexpr Field<T, M> omitempty(const char* name, M T::*member) {
  return {name, member, Omit::Empty};
}

template <class T, class B>
struct Embed {
  B T::*member;
};
template <class T, class B>
constexpr Embed<T, B> embed(B T::*member) {
  return {member};
}

template <class T>
concept IsRecord = requires { T::fields(); };

template <class T>
concept HasExtra = requires(T t) { t.extra; };

// JSON text inside a JSON string.
template <class T>
struct JsonString {
  T value{};
  bool operator==(const JsonString&) const = default;
};

namespace detail {

template <class M>
bool is_empty(const M& v) {
  if constexpr (requires { v.empty(); }) {
    return v.empty();
  } else if constexpr (requires { v.is_null(); }) {
    return v.is_null();
  } else if constexpr (requires { v == M{}; }) {
    return v == M{};
  } else {
    return false;
  }
}

template <class T>
void collect_names(std::set<std::string>& names);

template <class T, class F>
void for_each_field(F&& f) {
  std::apply([&](auto... fs) { (f(fs), ...); }, T::fields());
}

}  // namespace detail

template <IsRecord T>
void to_json(Json& j, const T& rec);
template <IsRecord T>
void from_json(const Json& j, T& rec);

template <class T>
void to_json(Json& j, const JsonString<T>& s) {
  Json inner = s.value;
  j = dump_json(inner);
}
template <class T>
void from_json(const Json& j, JsonString<T>& s) {
  const auto& text = j.get_ref<const std::string&>();
  if (text.empty()) {
    s.value = T{};
    return;
  }
  s.value = parse_json(text, "embedded JSON string").template get<T>();
}

template <class T>
bool is_empty(const JsonString<T>& s) {
  return detail::is_empty(s.value);
}

namespace detail {

template <class T>
void write_fields(Json& j, const T& rec) {
  for_each_field<T>([&](auto f) {
    if constexpr (requires { f.name; }) {
      const auto& v = rec.*(f.member);
      if constexpr (requires { v.has_value(); }) {
        if (v.has_value()) j[f.name] = *v;
      } else {
        if (f.omit == Omit::Empty && is_empty(v)) return;
        j[f.name] = v;
      }
    } else {
      write_fields(j, rec.*(f.member));
    }
  });
}

// Like Go's decoder, an integer field takes only an integer that fits it.
template <class M>
M read_value(const Json& j) {
  if constexpr (std::is_integral_v<M> && !std::is_same_v<M, bool>) {
    if (j.is_number_unsigned()) {
      auto v = j.get<uint64_t>();
      if (std::in_range<M>(v)) return static_cast<M>(v);
    } else if (j.is_number_integer()) {
      auto v = j.get<int64_t>();
      if (std::in_range<M>(v)) return static_cast<M>(v);
    } else {
      throw Error(hr::VmcomputeInvalidJSON, std::string("expected an integer, got ") + j.type_name());
    }
    throw Error(hr::VmcomputeInvalidJSON, "number " + j.dump() + " out of range");
  } else {
    return j.template get<M>();
  }
}

template <class T>
void read_fields(const Json& j, T& rec) {
  for_each_field<T>([&](auto f) {
    if constexpr (requires { f.name; }) {
      auto it = j.find(f.name);
      if (it == j.end() || it->is_null()) return;
      auto& v = rec.*(f.member);
      try {
        if constexpr (requires { v.has_value(); v.emplace(); }) {
          v = read_value<typename std::remove_reference_t<decltype(v)>::value_type>(*it);
        } else {
          v = read_value<std::remove_reference_t<decltype(v)>>(*it);
        }
      } catch (const Json::exception& e) {
        throw Error(hr::VmcomputeInvalidJSON, std::string("field ") + f.name + ": " + e.what());
      } catch (Error& e) {
        throw e.wrap(std::string("field ") + f.name);
      }
    } else {
      read_fields(j, rec.*(f.member));
    }
  });
}

template <class T>
void collect_names(std::set<std::string>& names) {
  for_each_field<T>([&](auto f) {
    if constexpr (requires { f.name; }) {
      names.insert(f.name);
    } else {
      collect_names<std::remove_reference_t<decltype(std::declval<T&>().*(f.member))>>(names);
    }
  });
}

}  // namespace detail

template <IsRecord T>
void to_json(Json& j, const T& rec) {
  j = Json::object();
  detail::write_fields(j, rec);
  if constexpr (HasExtra<T>) {
    if (rec.extra.is_object())
      for (const auto& [k, v] : rec.extra.items())
        if (!j.contains(k)) j[k] = v;
  }
}

template <IsRecord T>
void from_json(const Json& j, T& rec) {
  if (!j.is_object()) throw Error(hr::VmcomputeInvalidJSON, std::string("expected a JSON object, got ") + j.type_name());
  detail::read_fields(j, rec);
  if constexpr (HasExtra<T>) {
    static const std::set<std::string> known = [] {
      std::set<std::string> names;
      detail::collect_names<T>(names);
      return names;
    }();
    rec.extra = Json::object();
    for (const auto& [k, v] : j.items())
      if (!known.contains(k)) rec.extra[k] = v;
  }
}

// Decodes a message body into T; JSON errors carry HrVmcomputeInvalidJSON.
template <class T>
T decode(const Json& j) {
  T rec{};
  from_json(j, rec);
  return rec;
}

template <class T>
Json encode(const T& rec) {
  Json j;
  to_json(j, rec);
  return j;
}

}  // namespace hcs::schema

// Guid: a Windows-style GUID with its canonical lower-case text form.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hcs {

class Guid {
 public:
  Guid() = default;  // the null GUID
  static Guid random();
  // Accepts "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", with or without braces, any case.
  static std::optional<Guid> parse(std::string_view text);

  std::string str() const;
  bool is_null() const noexcept;
  const std::array<uint8_t, 16>& bytes() const noexcept { return b_; }
  auto operator<=>(const Guid&) const = default;

 private:
  std::array<uint8_t, 16> b_{};  // in text order
};

// The container id that stands for the utility VM itself.
inline constexpr std::string_view kNullContainerId = "00000000-0000-0000-0000-000000000000";

}  // namespace hcs

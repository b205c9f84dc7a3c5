// hcs::Error: an HRESULT-style code, a message and a chain of context, as the bridge
// reports failures (Result + ErrorMessage + ErrorRecords) and CLIs print them.
#pragma once

#include <cstdint>

#include <stdexcept>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace hcs {

// HRESULTs of the GCS bridge and HCS (values from hcsshim's gcserr and vmcompute).
namespace hr {
inline constexpr uint32_t Ok = 0;
inline constexpr uint32_t NotImpl = 0x80004001;
inline constexpr uint32_t Fail = 0x80004005;
inline constexpr uint32_t ErrNotFound = 0x80070490;
inline constexpr uint32_t ErrInvalidArg = 0x80070057;
inline constexpr uint32_t VmcomputeTimeout = 0xC0370109;
inline constexpr uint32_t VmcomputeInvalidJSON = 0xC037010D;
inline constexpr uint32_t VmcomputeSystemNotFound = 0xC037010E;
inline constexpr uint32_t VmcomputeSystemAlreadyExists = 0xC037010F;
inline constexpr uint32_t VmcomputeUnsupportedProtocolVersion = 0xC037010C;
inline constexpr uint32_t VmcomputeUnknownMessage = 0xC037010B;
inline constexpr uint32_t VmcomputeInvalidState = 0x80370105;
inline constexpr uint32_t VmcomputeSystemAlreadyStopped = 0xC0370110;
// Not sent by a guest: the host's own view of a dead connection.
inline constexpr uint32_t BridgeClosed = 0x800704CD;  // HRESULT_FROM_WIN32(ERROR_CONNECTION_INVALID)

// Symbolic name of a known HRESULT, or "" when unknown.
std::string_view name(uint32_t code);
}  // namespace hr

// The call site of a function taking it as a defaulted argument. (std::source_location
// would do, but clang 14, which builds the fuzzers, cannot compile it with libstdc++ 12.)
struct SourceWhere {
  const char* file = "";
  uint32_t line = 0;
  const char* function = "";
  static constexpr SourceWhere current(const char* file = __builtin_FILE(), uint32_t line = __builtin_LINE(),
                                       const char* function = __builtin_FUNCTION()) {
    return SourceWhere{file, line, function};
  }
  const char* file_name() const { return file; }
  const char* function_name() const { return function; }
};

// Where an error was raised: becomes an ErrorRecord on the wire.
struct ErrorSite {
  std::string file;
  uint32_t line = 0xFFFFFFFF;
  std::string function;
};

class Error : public std::runtime_error {
 public:
  explicit Error(uint32_t code, std::string message,
                 SourceWhere where = SourceWhere::current());
  // An errno failure: HRESULT_FROM_WIN32-style code 0x8007xxxx is not meaningful for
  // Linux errnos, so these carry HrFail and keep the errno text.
  static Error from_errno(int err, std::string what,
                          SourceWhere where = SourceWhere::current());

  uint32_t code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  const std::vector<std::string>& context() const noexcept { return context_; }
  const ErrorSite& site() const noexcept { return site_; }

  // Adds an outer layer of context: "context: message".
  Error& wrap(std::string context);
  Error wrapped(std::string context) const& { Error e = *this; e.wrap(std::move(context)); return e; }

  // "outer: inner: message", the form CLIs print.
  std::string text() const;

 private:
  void refresh();
  uint32_t code_;
  std::string message_;
  std::vector<std::string> context_;  // outermost first
  ErrorSite site_;
  std::string text_;
};

// Throws an Error built from errno when `ok` is false.
[[noreturn]] void throw_errno(std::string what, SourceWhere where = SourceWhere::current());

// A value or an Error: the result of an asynchronous operation delivered to a callback.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  const T& value() const& { check(); return std::get<0>(v_); }
  const Error& error() const& { return std::get<1>(v_); }

 private:
  void check() const {
    if (!ok()) throw std::get<1>(v_);
  }
  std::variant<T, Error> v_;
};

// Success or an Error, for operations that produce no value.
template <>
class Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}
  bool ok() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  void value() const {
    if (e_) throw *e_;
  }
  const Error& error() const& { return *e_; }

 private:
  std::optional<Error> e_;
};

}  // namespace hcs

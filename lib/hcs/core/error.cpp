#include "hcs/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace hcs {

std::string_view hr::name(uint32_t code) {
  switch (code) {
    case Ok: return "S_OK";
    case NotImpl: return "HrNotImpl";
    case Fail: return "HrFail";
    case ErrNotFound: return "HrErrNotFound";
    case ErrInvalidArg: return "HrErrInvalidArg";
    case VmcomputeTimeout: return "HvVmcomputeTimeout";
    case VmcomputeInvalidJSON: return "HrVmcomputeInvalidJSON";
    case VmcomputeSystemNotFound: return "HrVmcomputeSystemNotFound";
    case VmcomputeSystemAlreadyExists: return "HrVmcomputeSystemAlreadyExists";
    case VmcomputeUnsupportedProtocolVersion: return "HrVmcomputeUnsupportedProtocolVersion";
    case VmcomputeUnknownMessage: return "HrVmcomputeUnknownMessage";
    case VmcomputeInvalidState: return "HrVmcomputeInvalidState";
    case VmcomputeSystemAlreadyStopped: return "HrVmcomputeSystemAlreadyStopped";
    case BridgeClosed: return "BridgeClosed";
    default: return "";
  }
}

Error::Error(uint32_t code, std::string message, SourceWhere where)
    : std::runtime_error(message), code_(code), message_(std::move(message)) {
  site_.file = std::filesystem::path(where.file_name()).filename().string();
  site_.line = where.line;
  site_.function = where.function_name();
  refresh();
}

Error Error::from_errno(int err, std::string what, SourceWhere where) {
  return Error(hr::Fail, what + ": " + std::strerror(err), where);
}

Error& Error::wrap(std::string context) {
  context_.insert(context_.begin(), std::move(context));
  refresh();
  return *this;
}

std::string Error::text() const { return text_; }

void Error::refresh() {
  text_.clear();
  for (const auto& c : context_) text_ += c + ": ";
  text_ += message_;
  static_cast<std::runtime_error&>(*this) = std::runtime_error(text_);
}

void throw_errno(std::string what, SourceWhere where) {
  throw Error::from_errno(errno, std::move(what), where);
}

}  // namespace hcs

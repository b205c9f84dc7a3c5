#include "hcs/ttrpc/status.hpp"

#include <array>

#include "proto/ttrpc.pb.h"

namespace hcs::ttrpc {

namespace {

constexpr std::array<std::string_view, 17> kNames = {
    "OK",        "CANCELED",          "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

// The type URL of ErrorDetail in Status.details. Readers compare only the part after
// the last '/', since containerd-style peers drop the googleapis prefix.
constexpr std::string_view kDetailPrefix = "type.googleapis.com/";
constexpr std::string_view kDetailName = "hcskit.ttrpc.ErrorDetail";

// Invalid UTF-8 replaced by U+FFFD: newer Go peers (google.golang.org/protobuf) reject
// a proto3 string that is not UTF-8, and an error text may hold any file name.
std::string valid_utf8(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len > 1) {
      // Reject overlong forms, surrogates and code points above U+10FFFF.
      uint32_t cp = c & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k) cp = cp << 6 | (p[i + k] & 0x3F);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string code_name(Code c) {
  auto i = static_cast<int32_t>(c);
  if (i >= 0 && i < int32_t(kNames.size())) return std::string(kNames[i]);
  return "CODE(" + std::to_string(i) + ")";
}

Code code_for(uint32_t h) noexcept {
  switch (h) {
    case hr::Ok: return Code::Ok;
    case hr::VmcomputeSystemNotFound:
    case hr::ErrNotFound: return Code::NotFound;
    case hr::VmcomputeSystemAlreadyExists: return Code::AlreadyExists;
    case hr::VmcomputeInvalidState:
    case hr::VmcomputeSystemAlreadyStopped: return Code::FailedPrecondition;
    case hr::ErrInvalidArg:
    case hr::VmcomputeInvalidJSON: return Code::InvalidArgument;
    case hr::NotImpl:
    case hr::VmcomputeUnknownMessage: return Code::Unimplemented;
    case hr::VmcomputeTimeout: return Code::DeadlineExceeded;
    case hr::BridgeClosed: return Code::Unavailable;
    case hresult::Cancelled: return Code::Canceled;
    case hresult::AccessDenied: return Code::PermissionDenied;
    case hresult::OutOfMemory: return Code::ResourceExhausted;
    case hresult::Abort: return Code::Aborted;
    case hresult::Bounds: return Code::OutOfRange;
    case hresult::Unexpected: return Code::Internal;
    case hresult::FileCorrupt: return Code::DataLoss;
    case hresult::NotAuthenticated: return Code::Unauthenticated;
    default: return Code::Unknown;
  }
}

uint32_t hresult_for(Code c) noexcept {
  switch (c) {
    case Code::Ok: return hr::Ok;
    case Code::Canceled: return hresult::Cancelled;
    case Code::Unknown: return hr::Fail;
    case Code::InvalidArgument: return hr::ErrInvalidArg;
    case Code::DeadlineExceeded: return hr::VmcomputeTimeout;
    case Code::NotFound: return hr::ErrNotFound;
    case Code::AlreadyExists: return hr::VmcomputeSystemAlreadyExists;
    case Code::PermissionDenied: return hresult::AccessDenied;
    case Code::ResourceExhausted: return hresult::OutOfMemory;
    case Code::FailedPrecondition: return hr::VmcomputeInvalidState;
    case Code::Aborted: return hresult::Abort;
    case Code::OutOfRange: return hresult::Bounds;
    case Code::Unimplemented: return hr::NotImpl;
    case Code::Internal: return hresult::Unexpected;
    case Code::Unavailable: return hr::BridgeClosed;
    case Code::DataLoss: return hresult::FileCorrupt;
    case Code::Unauthenticated: return hresult::NotAuthenticated;
  }
  return hr::Fail;
}

Code code_of(const Error& e) noexcept {
  Code c = code_for(e.code());
  return c == Code::Ok ? Code::Unknown : c;
}

Error status_error(Code c, std::string message, SourceWhere where) {
  return Error(hresult_for(c), std::move(message), where);
}

void to_status(const Error& e, hcskit::ttrpc::Status& out) {
  const Code c = code_of(e);
  out.set_code(static_cast<int32_t>(c));
  out.set_message(valid_utf8(e.text()));
  if (e.code() != hresult_for(c)) {
    hcskit::ttrpc::ErrorDetail d;
    d.set_hresult(e.code());
    auto* any = out.add_details();
    any->set_type_url(std::string(kDetailPrefix) + std::string(kDetailName));
    any->set_value(d.SerializeAsString());
  }
}

Error from_status(const hcskit::ttrpc::Status& s) {
  Code c = static_cast<Code>(s.code());
  if (c == Code::Ok) c = Code::Unknown;  // only called for failures
  uint32_t h = hresult_for(c);
  for (const auto& any : s.details()) {
    std::string_view url = any.type_url();
    if (auto slash = url.rfind('/'); slash != std::string_view::npos) url.remove_prefix(slash + 1);
    if (url != kDetailName) continue;
    hcskit::ttrpc::ErrorDetail d;
    // A detail that contradicts the code is ignored: the code is what every peer reads.
    if (!d.ParseFromString(any.value())) break;
    Code dc = code_for(d.hresult());
    if (dc == Code::Ok) dc = Code::Unknown;
    if (dc == c) h = d.hresult();
    break;
  }
  std::string msg = s.message().empty() ? code_name(static_cast<Code>(s.code())) : s.message();
  return Error(h, std::move(msg));
}

}  // namespace hcs::ttrpc

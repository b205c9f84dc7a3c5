// gRPC status codes, and the two-way mapping between them and hcs::Error's HRESULTs,
// so that an error crossing a ttrpc hop keeps its meaning: the server sends the code
// of the error's class (what containerd understands) and, when the HRESULT is not the
// one that code maps back to, the exact HRESULT in an hcskit.ttrpc.ErrorDetail.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "hcs/core/error.hpp"

namespace hcskit::ttrpc {
class Status;
}

namespace hcs::ttrpc {

enum class Code : int32_t {
  Ok = 0,
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
};

// "NOT_FOUND" etc.; "CODE(n)" for a code outside 0..16.
std::string code_name(Code c);

// HRESULTs for the codes that no hr:: constant stands for (standard Windows values).
namespace hresult {
inline constexpr uint32_t Cancelled = 0x800704C7;         // HRESULT_FROM_WIN32(ERROR_CANCELLED)
inline constexpr uint32_t AccessDenied = 0x80070005;      // E_ACCESSDENIED
inline constexpr uint32_t OutOfMemory = 0x8007000E;       // E_OUTOFMEMORY
inline constexpr uint32_t Abort = 0x80004004;             // E_ABORT
inline constexpr uint32_t Bounds = 0x8000000B;            // E_BOUNDS
inline constexpr uint32_t Unexpected = 0x8000FFFF;        // E_UNEXPECTED
inline constexpr uint32_t FileCorrupt = 0x80070570;       // HRESULT_FROM_WIN32(ERROR_FILE_CORRUPT)
inline constexpr uint32_t NotAuthenticated = 0x800704DC;  // HRESULT_FROM_WIN32(ERROR_NOT_AUTHENTICATED)
}  // namespace hresult

// The class of an HRESULT (Unknown for any HRESULT not listed; Ok for S_OK).
Code code_for(uint32_t hresult) noexcept;
// The HRESULT that stands for a code (hr::Fail for Unknown and for codes out of range).
uint32_t hresult_for(Code c) noexcept;
// code_for(e.code()), but never Ok: an Error is a failure whatever its code says.
Code code_of(const Error& e) noexcept;

// An Error of a given class.
Error status_error(Code c, std::string message, SourceWhere where = SourceWhere::current());

// Error → the Status of an error Response, and back.
void to_status(const Error& e, hcskit::ttrpc::Status& out);
Error from_status(const hcskit::ttrpc::Status& s);

}  // namespace hcs::ttrpc

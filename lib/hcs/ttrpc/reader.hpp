// FrameReader: reads ttrpc frames from a stream through one buffer (several small
// frames per read, see transport::FramedReader). A frame whose length exceeds
// kMaxPayload is reported and then skipped, exactly `length` bytes, without buffering
// it, so the connection goes on.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "hcs/transport/framed_reader.hpp"
#include "hcs/transport/stream.hpp"
#include "hcs/ttrpc/frame.hpp"

namespace hcs::ttrpc {

class FrameReader : public std::enable_shared_from_this<FrameReader> {
 public:
  struct Events {
    // A complete frame. The payload view is valid only during the call.
    std::function<void(const Header&, std::string_view payload)> frame;
    // A header with length > kMaxPayload; its payload is being discarded.
    std::function<void(const Header&)> oversized;
    // The stream ended (eof) or failed; `inside_frame` when it ended part-way through one.
    std::function<void(const transport::error_code&, bool inside_frame)> end;
  };
  static std::shared_ptr<FrameReader> start(transport::StreamPtr stream, Events events);
  // No further events after this (safe to call from inside an event).
  void stop() noexcept { reader_->stop(); }

 private:
  explicit FrameReader(std::shared_ptr<transport::FramedReader> r) : reader_(std::move(r)) {}
  std::shared_ptr<transport::FramedReader> reader_;
};

}  // namespace hcs::ttrpc

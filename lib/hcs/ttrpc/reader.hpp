// FrameReader: reads ttrpc frames from a stream through one buffer (several small
// frames per read). A frame whose length exceeds kMaxPayload is reported and then
// skipped, exactly `length` bytes, without buffering it, so the connection goes on.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

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
  void stop() noexcept { stopped_ = true; }

 private:
  FrameReader(transport::StreamPtr s, Events e) : stream_(std::move(s)), events_(std::move(e)) {}
  void read();
  bool deliver();  // emits every complete frame buffered; false once stopped

  transport::StreamPtr stream_;
  Events events_;
  std::vector<std::byte> buf_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes are buf_[begin_, end_)
  std::size_t skip_ = 0;             // bytes of an oversized payload still to discard
  bool stopped_ = false;
};

}  // namespace hcs::ttrpc

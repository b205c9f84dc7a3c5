// FrameReader: reads bridge frames from a stream through one buffer (see
// transport::FramedReader), so that a frame, and often several, arrives in a single
// read. Sizes are checked before anything is allocated.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "hcs/bridge/frame.hpp"
#include "hcs/transport/framed_reader.hpp"
#include "hcs/transport/stream.hpp"

namespace hcs::bridge {

class FrameReader : public std::enable_shared_from_this<FrameReader> {
 public:
  struct Events {
    std::function<void(const Header&, std::string body)> frame;
    // A header whose Size fails check_size(). Its 16 bytes are consumed; return true
    // to go on reading, false to stop.
    std::function<bool(const Header&)> bad_size;
    // The stream ended or failed. `partial` is set when it ended inside a frame:
    // the header (if it was complete) and how many bytes of the frame had arrived.
    struct Partial {
      std::optional<Header> header;
      std::size_t bytes = 0;
    };
    std::function<void(const transport::error_code&, std::optional<Partial> partial)> end;
  };
  static std::shared_ptr<FrameReader> start(transport::StreamPtr stream, Events events);
  // No further events after this (safe to call from inside an event).
  void stop() noexcept { reader_->stop(); }

 private:
  explicit FrameReader(std::shared_ptr<transport::FramedReader> r) : reader_(std::move(r)) {}
  std::shared_ptr<transport::FramedReader> reader_;
};

}  // namespace hcs::bridge

// FramedReader: reads length-prefixed frames from a stream through one buffer, so that
// a frame (and often several) arrives in a single read instead of a header read and a
// body read. The protocol only says, from a frame's header, how long the frame is; the
// reader does the buffering. The buffer grows to the largest frame the protocol
// accepts and shrinks back once it has been read.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "hcs/transport/stream.hpp"

namespace hcs::transport {

// What a header says about the frame it starts.
struct FrameLength {
  enum class Kind {
    Whole,  // a frame of `bytes` bytes, header included, to deliver
    Bad,    // a header to drop (its header bytes only)
    Skip,   // a header to drop, then `bytes` bytes of payload to discard unbuffered
  };
  Kind kind = Kind::Whole;
  std::size_t bytes = 0;

  static FrameLength whole(std::size_t n) noexcept { return {Kind::Whole, n}; }
  static FrameLength bad() noexcept { return {Kind::Bad, 0}; }
  static FrameLength skip(std::size_t n) noexcept { return {Kind::Skip, n}; }
};

class FramedReader : public std::enable_shared_from_this<FramedReader> {
 public:
  using Bytes = std::span<const std::byte>;
  // The reader holds these callbacks, and a pending read holds the reader: it goes
  // on until stop() or the end of the stream, whoever else still holds it.
  struct Protocol {
    std::size_t header_size = 0;
    // Sizes the frame from its header_size header bytes. This is the size check: the
    // buffer grows to whatever Whole length it returns, which must be >= header_size.
    std::function<FrameLength(Bytes header)> measure;
    // A complete frame, header included; valid only during the call.
    std::function<void(Bytes frame)> frame;
    // A header measured Bad or Skip, already consumed. Return false to stop reading.
    std::function<bool(Bytes header)> rejected;
    // The stream ended or failed: the bytes left unread (part of a frame), and whether
    // it ended inside a payload being skipped.
    std::function<void(const error_code&, Bytes tail, bool skipping)> end;
  };
  static std::shared_ptr<FramedReader> start(StreamPtr stream, Protocol protocol);
  // No further events after this (safe to call from inside an event).
  void stop() noexcept { stopped_ = true; }

 private:
  FramedReader(StreamPtr s, Protocol p) : stream_(std::move(s)), protocol_(std::move(p)) {}
  void read();
  void on_read(const error_code& ec, std::size_t n);
  bool deliver();  // emits every complete frame buffered; false once stopped
  void slide();    // moves the unread bytes to the front of the buffer
  Bytes unread() const noexcept { return Bytes(buf_.data() + begin_, end_ - begin_); }

  StreamPtr stream_;
  Protocol protocol_;
  std::vector<std::byte> buf_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes are buf_[begin_, end_)
  std::size_t skip_ = 0;             // payload bytes still to discard
  bool stopped_ = false;
};

}  // namespace hcs::transport

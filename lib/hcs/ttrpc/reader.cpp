#include "hcs/ttrpc/reader.hpp"

#include <algorithm>
#include <cstring>

namespace hcs::ttrpc {

static constexpr std::size_t kReadChunk = 64 * 1024;

std::shared_ptr<FrameReader> FrameReader::start(transport::StreamPtr stream, Events events) {
  auto r = std::shared_ptr<FrameReader>(new FrameReader(std::move(stream), std::move(events)));
  r->buf_.resize(kReadChunk);
  r->read();
  return r;
}

bool FrameReader::deliver() {
  while (!stopped_) {
    if (skip_ > 0) {
      std::size_t n = std::min(skip_, end_ - begin_);
      begin_ += n;
      skip_ -= n;
      if (skip_ > 0) break;
    }
    if (end_ - begin_ < kHeaderSize) break;
    Header h = decode_header(std::span<const std::byte, kHeaderSize>(buf_.data() + begin_, kHeaderSize));
    if (h.length > kMaxPayload) {
      begin_ += kHeaderSize;
      skip_ = h.length;
      events_.oversized(h);
      continue;
    }
    const std::size_t need = kHeaderSize + h.length;
    if (end_ - begin_ < need) {
      // Make room for the rest of this frame (at most kHeaderSize + kMaxPayload).
      if (buf_.size() - begin_ < need) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        if (buf_.size() < need) buf_.resize(need);
      }
      break;
    }
    std::string_view payload(reinterpret_cast<const char*>(buf_.data() + begin_ + kHeaderSize), h.length);
    begin_ += need;
    events_.frame(h, payload);
  }
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buf_.size() > kReadChunk) {  // give back what one large frame needed
      buf_.resize(kReadChunk);
      buf_.shrink_to_fit();
    }
  }
  return !stopped_;
}

void FrameReader::read() {
  if (end_ == buf_.size()) {  // no room left at the end: slide what is unread to the front
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  auto self = shared_from_this();
  stream_->async_read_some(std::span(buf_.data() + end_, buf_.size() - end_),
                           [self](const transport::error_code& ec, std::size_t n) {
                             if (self->stopped_) return;
                             self->end_ += n;
                             if (ec) {
                               // A last frame may have arrived with the end of the stream.
                               if (!self->deliver()) return;
                               self->stopped_ = true;
                               return self->events_.end(ec, self->skip_ > 0 || self->end_ > self->begin_);
                             }
                             if (self->deliver()) self->read();
                           });
}

}  // namespace hcs::ttrpc

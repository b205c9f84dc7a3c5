#include "hcs/bridge/frame_reader.hpp"

#include <cstring>

namespace hcs::bridge {

static constexpr std::size_t kReadChunk = 64 * 1024;

std::shared_ptr<FrameReader> FrameReader::start(transport::StreamPtr stream, Events events) {
  auto r = std::shared_ptr<FrameReader>(new FrameReader(std::move(stream), std::move(events)));
  r->buf_.resize(kReadChunk);
  r->read();
  return r;
}

bool FrameReader::deliver() {
  while (!stopped_ && end_ - begin_ >= kHeaderSize) {
    Header h = decode_header(std::span<const std::byte, kHeaderSize>(buf_.data() + begin_, kHeaderSize));
    if (check_size(h.size) != SizeCheck::Ok) {
      begin_ += kHeaderSize;
      if (!events_.bad_size(h)) stopped_ = true;
      continue;
    }
    if (end_ - begin_ < h.size) {
      // Make room for the rest of this frame: it is at most kMaxMessageSize.
      if (buf_.size() - begin_ < h.size) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
        if (buf_.size() < h.size) buf_.resize(h.size);
      }
      break;
    }
    std::string body(reinterpret_cast<const char*>(buf_.data() + begin_ + kHeaderSize), h.size - kHeaderSize);
    begin_ += h.size;
    events_.frame(h, std::move(body));
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
  if (end_ == buf_.size()) {  // room at the end is gone: slide what is unread to the front
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
                               std::optional<Events::Partial> partial;
                               if (self->end_ > self->begin_) {
                                 partial.emplace();
                                 partial->bytes = self->end_ - self->begin_;
                                 if (partial->bytes >= kHeaderSize)
                                   partial->header = decode_header(std::span<const std::byte, kHeaderSize>(
                                       self->buf_.data() + self->begin_, kHeaderSize));
                               }
                               self->stopped_ = true;
                               return self->events_.end(ec, partial);
                             }
                             if (self->deliver()) self->read();
                           });
}

}  // namespace hcs::bridge

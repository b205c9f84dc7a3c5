#include "hcs/transport/framed_reader.hpp"

#include <algorithm>
#include <cstring>

namespace hcs::transport {

static constexpr std::size_t kReadChunk = 64 * 1024;

std::shared_ptr<FramedReader> FramedReader::start(StreamPtr stream, Protocol protocol) {
  auto r = std::shared_ptr<FramedReader>(new FramedReader(std::move(stream), std::move(protocol)));
  r->buf_.resize(kReadChunk);
  r->read();
  return r;
}

void FramedReader::slide() {
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

bool FramedReader::deliver() {
  const std::size_t header_size = protocol_.header_size;
  while (!stopped_) {
    if (skip_ > 0) {
      const std::size_t n = std::min(skip_, end_ - begin_);
      begin_ += n;
      skip_ -= n;
      if (skip_ > 0) break;
    }
    if (end_ - begin_ < header_size) break;
    const Bytes header = unread().first(header_size);
    const FrameLength len = protocol_.measure(header);
    if (len.kind != FrameLength::Kind::Whole) {
      begin_ += header_size;
      if (len.kind == FrameLength::Kind::Skip) skip_ = len.bytes;
      if (!protocol_.rejected(header)) stopped_ = true;
      continue;
    }
    if (end_ - begin_ < len.bytes) {
      // Make room for the rest of this frame; measure() has bounded its length.
      if (buf_.size() - begin_ < len.bytes) {
        slide();
        if (buf_.size() < len.bytes) buf_.resize(len.bytes);
      }
      break;
    }
    const Bytes frame = unread().first(len.bytes);
    begin_ += len.bytes;
    protocol_.frame(frame);
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

void FramedReader::read() {
  if (end_ == buf_.size()) slide();  // no room left at the end
  stream_->async_read_some(std::span(buf_.data() + end_, buf_.size() - end_),
                           [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

void FramedReader::on_read(const error_code& ec, std::size_t n) {
  if (stopped_) return;
  end_ += n;
  // A last frame may have arrived with the end of the stream: deliver it first.
  if (!deliver()) return;
  if (!ec) return read();
  stopped_ = true;
  protocol_.end(ec, unread(), skip_ > 0);
}

}  // namespace hcs::transport

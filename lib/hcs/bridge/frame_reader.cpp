#include "hcs/bridge/frame_reader.hpp"

namespace hcs::bridge {

using transport::FrameLength;
using Bytes = transport::FramedReader::Bytes;

std::shared_ptr<FrameReader> FrameReader::start(transport::StreamPtr stream, Events events) {
  transport::FramedReader::Protocol p;
  p.header_size = kHeaderSize;
  // Size counts the header; check_size() bounds it before the buffer grows.
  p.measure = [](Bytes header) {
    const uint32_t size = decode_header(header.first<kHeaderSize>()).size;
    return check_size(size) == SizeCheck::Ok ? FrameLength::whole(size) : FrameLength::bad();
  };
  p.frame = [frame = std::move(events.frame)](Bytes bytes) {
    const auto body = bytes.subspan(kHeaderSize);
    frame(decode_header(bytes.first<kHeaderSize>()),
          std::string(reinterpret_cast<const char*>(body.data()), body.size()));
  };
  p.rejected = [bad_size = std::move(events.bad_size)](Bytes header) {
    return bad_size(decode_header(header.first<kHeaderSize>()));
  };
  p.end = [end = std::move(events.end)](const transport::error_code& ec, Bytes tail, bool /*skipping: never*/) {
    std::optional<Events::Partial> partial;
    if (!tail.empty()) {
      partial.emplace();
      partial->bytes = tail.size();
      if (tail.size() >= kHeaderSize) partial->header = decode_header(tail.first<kHeaderSize>());
    }
    end(ec, partial);
  };
  return std::shared_ptr<FrameReader>(new FrameReader(transport::FramedReader::start(std::move(stream), std::move(p))));
}

}  // namespace hcs::bridge

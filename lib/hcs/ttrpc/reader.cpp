#include "hcs/ttrpc/reader.hpp"

namespace hcs::ttrpc {

using transport::FrameLength;
using Bytes = transport::FramedReader::Bytes;

std::shared_ptr<FrameReader> FrameReader::start(transport::StreamPtr stream, Events events) {
  transport::FramedReader::Protocol p;
  p.header_size = kHeaderSize;
  // Length counts the payload only. An oversized one is skipped, never buffered.
  p.measure = [](Bytes header) {
    const uint32_t length = decode_header(header.first<kHeaderSize>()).length;
    return length > kMaxPayload ? FrameLength::skip(length) : FrameLength::whole(kHeaderSize + length);
  };
  p.frame = [frame = std::move(events.frame)](Bytes bytes) {
    const auto payload = bytes.subspan(kHeaderSize);
    frame(decode_header(bytes.first<kHeaderSize>()),
          std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
  };
  p.rejected = [oversized = std::move(events.oversized)](Bytes header) {
    oversized(decode_header(header.first<kHeaderSize>()));
    return true;  // the connection goes on after the skipped payload
  };
  p.end = [end = std::move(events.end)](const transport::error_code& ec, Bytes tail, bool skipping) {
    end(ec, skipping || !tail.empty());
  };
  return std::shared_ptr<FrameReader>(new FrameReader(transport::FramedReader::start(std::move(stream), std::move(p))));
}

}  // namespace hcs::ttrpc

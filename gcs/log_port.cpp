#include "log_port.hpp"

#include <boost/asio/post.hpp>

namespace gcs {

static constexpr std::size_t kMaxPending = 1 << 20;

LogPortSink::LogPortSink(hcs::transport::StreamPtr stream) : stream_(std::move(stream)) {
  auto broken = broken_;
  queue_ = hcs::transport::WriteQueue::create(stream_, [broken](const hcs::transport::error_code&) { *broken = true; });
}

void LogPortSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (*broken_) return;
  spdlog::memory_buf_t buf;
  formatter_->format(msg, buf);
  if (queue_->pending_bytes() > kMaxPending) {
    ++dropped_;
    return;
  }
  std::string line(buf.data(), buf.size());
  if (dropped_) {
    line = "{\"level\":\"warning\",\"msg\":\"" + std::to_string(dropped_) + " log lines dropped\"}\n" + line;
    dropped_ = 0;
  }
  // Writes happen on the stream's executor, whichever thread logged.
  boost::asio::post(stream_->get_executor(), [q = queue_, line = std::move(line)]() mutable { q->send(std::move(line)); });
}

}  // namespace gcs

// An spdlog sink that forwards JSON log lines to the host's log port (109) over a
// Stream. It never blocks the agent: when the host reads too slowly, lines are dropped
// and counted.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <mutex>

#include "hcs/transport/stream.hpp"

namespace gcs {

class LogPortSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LogPortSink(hcs::transport::StreamPtr stream);
  bool broken() const noexcept { return *broken_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  hcs::transport::StreamPtr stream_;
  std::shared_ptr<hcs::transport::WriteQueue> queue_;
  std::shared_ptr<bool> broken_ = std::make_shared<bool>(false);
  std::size_t dropped_ = 0;
};

}  // namespace gcs

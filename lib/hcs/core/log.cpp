#include "hcs/core/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>

#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"

namespace hcs::log {

Format parse_format(std::string_view name) {
  if (name == "text") return Format::Text;
  if (name == "json") return Format::Json;
  throw Error(hr::ErrInvalidArg, "unknown log format '" + std::string(name) + "' (want text or json)");
}

spdlog::level::level_enum parse_level(std::string_view name) {
  auto level = spdlog::level::from_str(std::string(name));
  if (level == spdlog::level::off && name != "off")
    throw Error(hr::ErrInvalidArg, "unknown log level '" + std::string(name) + "'");
  return level;
}

namespace {

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto t = msg.time;
    auto secs = time_point_cast<seconds>(t);
    auto nanos = duration_cast<nanoseconds>(t - secs).count();
    std::time_t tt = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char stamp[64];
    size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(stamp + n, sizeof stamp - n, ".%09lldZ", static_cast<long long>(nanos));
    Json line;
    line["time"] = stamp;
    auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    auto text = dump_json(line);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

std::unique_ptr<spdlog::formatter> json_formatter() { return std::make_unique<JsonFormatter>(); }

void setup(spdlog::sink_ptr sink, Format format, spdlog::level::level_enum level) {
  if (format == Format::Json)
    sink->set_formatter(json_formatter());
  else
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%fZ %l %v",
                                                                     spdlog::pattern_time_type::utc));
  auto logger = std::make_shared<spdlog::logger>("hcs", std::move(sink));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

void setup_stderr(Format format, spdlog::level::level_enum level) {
  setup(std::make_shared<spdlog::sinks::stderr_sink_mt>(), format, level);
}

}  // namespace hcs::log

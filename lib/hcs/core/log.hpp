// Logging set-up: spdlog with plain text or JSON lines ({"time","level","msg"}, the
// shape a host that reads logrus JSON expects).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace hcs::log {

enum class Format { Text, Json };

// Parses "text" / "json"; throws hcs::Error otherwise.
Format parse_format(std::string_view name);
// Parses trace|debug|info|warn|error|critical|off; throws hcs::Error otherwise.
spdlog::level::level_enum parse_level(std::string_view name);

// Makes `sink` the default logger's only sink, formatted as `format`.
void setup(spdlog::sink_ptr sink, Format format, spdlog::level::level_enum level);
// The usual case: stderr.
void setup_stderr(Format format, spdlog::level::level_enum level);

// The formatter for JSON lines, exposed for sinks created later (e.g. a log port).
std::unique_ptr<spdlog::formatter> json_formatter();

}  // namespace hcs::log

#include "common/base/logging.hpp"

#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/base/text_format.hpp"

namespace kiwi {
namespace {

// One JSON object per line: {"ts","level","program","msg"}.
class json_formatter final : public spdlog::formatter {
 public:
  explicit json_formatter(std::string program) : program_(std::move(program)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json line = {
        {"ts", format_timestamp(std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                   msg.time))},
        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size())},
        {"program", program_},
        {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>(program_);
  }

 private:
  std::string program_;
};

}  // namespace

log_format parse_log_format(std::string_view name) {
  if (name == "text") {
    return log_format::text;
  }
  if (name == "json") {
    return log_format::json;
  }
  throw std::invalid_argument("--log-format must be text or json");
}

void init_logging(log_format format, std::string_view program) {
  auto logger = std::make_shared<spdlog::logger>(
      std::string(program), std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == log_format::json) {
    logger->set_formatter(std::make_unique<json_formatter>(std::string(program)));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ " + std::string(program) + ": %v",
                        spdlog::pattern_time_type::utc);
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace kiwi

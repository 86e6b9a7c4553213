#include "worker/kaniko_log.hpp"

#include "common/kubernetes/kaniko_job.hpp"

namespace kiwi {

kaniko_log::outcome kaniko_log::follow(kube_api& api, const std::string& pod_path,
                                       std::chrono::milliseconds idle,
                                       const std::function<bool()>& keep_going) {
  std::string path = pod_path + "/log?container=" + std::string(kaniko_container) +
                     "&follow=true&timestamps=true";
  if (last_seen_) {
    path += "&sinceTime=" + rfc3339_seconds(last_seen_->seconds);
  }
  std::string pending;
  auto on_data = [&](std::string_view data) {
    pending.append(data);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      take_line(std::string_view(pending).substr(start, nl - start));
    }
    pending.erase(0, start);
    return keep_going();
  };
  try {
    auto r = api.client().stream(path, {}, on_data, idle);
    if (r.reply.status != 0 && (r.reply.status < 200 || r.reply.status >= 300)) {
      return outcome::refused;
    }
    if (!pending.empty() && r.ended_cleanly) {
      take_line(pending);
    }
    return r.ended_cleanly ? outcome::ended : outcome::paused;
  } catch (const http_unreachable&) {
    return outcome::paused;  // idle or cut
  }
}

void kaniko_log::take_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (auto t = split_log_timestamp(line)) {
    // sinceTime has whole seconds: lines already shown come again; skip them.
    if (last_seen_ && t->at <= *last_seen_) {
      return;
    }
    last_seen_ = t->at;
    on_line_(t->text);
  } else {
    on_line_(line);
  }
}

}  // namespace kiwi

#include "daemon/event_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/verb.hpp>
#include <spdlog/spdlog.h>

#include "common/queue/build_event.hpp"
#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace kiwi {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds poll_block{1000};  // bounds how late a shutdown is seen
constexpr std::chrono::seconds keep_alive_every{15};

std::string_view path_of(const http_request& req) {
  std::string_view target(req.target().data(), req.target().size());
  return target.substr(0, target.find('?'));
}

// The build id of /api/v1/builds/{id}<suffix>, or "".
std::string build_of(std::string_view path, std::string_view suffix = "/events") {
  constexpr std::string_view prefix = "/api/v1/builds/";
  if (path.starts_with(prefix) && path.ends_with(suffix) &&
      path.size() > prefix.size() + suffix.size()) {
    std::string_view id = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
    if (id.find('/') == std::string_view::npos) {
      return std::string(id);
    }
  }
  return {};
}

// ?follow=1 (or true/yes) on the query string.
bool follow_requested(const http_request& req) {
  std::string_view target(req.target().data(), req.target().size());
  const auto q = target.find('?');
  if (q == std::string_view::npos) {
    return false;
  }
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair == "follow=1" || pair == "follow=true" || pair == "follow=yes" || pair == "follow") {
      return true;
    }
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return false;
}

bool valid_stream_id(std::string_view id) {
  if (id.empty() || id.size() > 41) {
    return false;
  }
  auto dash = id.find('-');
  auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return dash == std::string_view::npos ? digits(id)
                                        : digits(id.substr(0, dash)) && digits(id.substr(dash + 1));
}

bool is_final(std::string_view type) {
  return type == "build.succeeded" || type == "build.failed" || type == "build.cancelled" ||
         type == "build.superseded";
}

asio::awaitable<bool> send(beast::tcp_stream& stream, const std::string& bytes) {
  stream.expires_after(std::chrono::seconds(30));  // a client that stops reading is dropped
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), use_tuple);
  co_return !ec;
}

// An error answer on a connection that closes after it.
std::string closing(http_response res) {
  res.keep_alive(false);
  return serialize(res);
}

}  // namespace

bool is_event_stream_route(const http_request& req) {
  if (req.method() != http::verb::get) {
    return false;
  }
  auto path = path_of(req);
  return path == "/api/v1/events" || !build_of(path).empty() ||
         (!build_of(path, "/logs").empty() && follow_requested(req));
}

std::string sse_frame(std::string_view id, std::string_view type, std::string_view data) {
  std::string out;
  out.reserve(data.size() + id.size() + type.size() + 24);
  out += "id: ";
  out += id;
  out += "\nevent: ";
  out += type;
  out += "\ndata: ";
  out += data;  // one line: event JSON never holds a raw newline
  out += "\n\n";
  return out;
}

asio::awaitable<void> serve_event_stream(beast::tcp_stream& stream, const http_request& req,
                                         router_context& ctx, const std::string& client,
                                         const bool& stopping) {
  if (ctx.api == nullptr) {
    const std::string bytes =
        closing(error_response(req, 404, "the API is disabled (api.enabled is false)"));
    co_await send(stream, bytes);
    co_return;
  }
  if (auto denied = co_await authorize(req, *ctx.api, client, api_role::viewer); denied) {
    const std::string bytes = closing(std::move(*denied));
    co_await send(stream, bytes);
    co_return;
  }
  // /builds/{id}/logs?follow=1: the same stream with only the log lines and the final event.
  const std::string log_build = build_of(path_of(req), "/logs");
  const bool logs_only = !log_build.empty();
  const std::string build_id = logs_only ? log_build : build_of(path_of(req));
  std::string key = build_id.empty() ? keys::all_events() : keys::build_events(build_id);
  std::string from = build_id.empty() ? "$" : "0";
  std::string last_id(req["Last-Event-ID"]);
  if (last_id.empty()) {
    std::string_view target(req.target().data(), req.target().size());
    if (auto at = target.find("last_event_id="); at != std::string_view::npos) {
      last_id = std::string(target.substr(at + 14, target.find('&', at) - at - 14));
    }
  }
  if (!last_id.empty()) {
    if (!valid_stream_id(last_id)) {
      const std::string bytes = closing(error_response(
          req, 400, "Last-Event-ID must be an event id this stream sent (like 1764380000000-0)"));
      co_await send(stream, bytes);
      co_return;
    }
    from = last_id;
  }
  if (!build_id.empty()) {
    auto exists = co_await ctx.redis.command(redis_args("EXISTS", keys::build(build_id)),
                                             ctx.config.redis_timeout);
    if (exists.ec || exists.value.integer == 0) {
      const std::string bytes = closing(
          exists.ec ? error_response(req, 503, "Redis is unavailable; retry")
                    : error_response(req, 404,
                                     missing_build_message(build_id, ctx.config.retention)));
      co_await send(stream, bytes);
      co_return;
    }
  }

  if (ctx.events == nullptr || ctx.admission == nullptr) {
    const std::string bytes = closing(error_response(req, 503, "event streams are unavailable"));
    co_await send(stream, bytes);
    co_return;
  }
  admission_lease slot = ctx.admission->admit_stream(client);
  if (!slot) {
    auto res = error_response(
        req, 429,
        "too many event streams from " + client + " (http.max_event_streams_per_client is " +
            std::to_string(ctx.admission->settings().max_event_streams_per_client) +
            "); close one first");
    res.set(http::field::retry_after, "5");
    const std::string bytes = closing(std::move(res));
    co_await send(stream, bytes);
    co_return;
  }
  auto executor = co_await asio::this_coro::executor;
  event_hub::registration follow(*ctx.events,
                                 std::make_shared<event_hub::follower>(executor, build_id));
  auto& me = follow.get();
  if (from == "$") {  // "now": the all-builds stream's last entry, read after registering
    auto tail = co_await ctx.redis.command(redis_args("XREVRANGE", key, "+", "-", "COUNT", "1"),
                                           ctx.config.redis_timeout);
    if (tail.ec) {
      const std::string bytes = closing(error_response(req, 503, "Redis is unavailable; retry"));
      co_await send(stream, bytes);
      co_return;
    }
    from = tail.value.elements.empty() || tail.value.elements[0].elements.empty()
               ? "0-0"
               : tail.value.elements[0].elements[0].str;
  }
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: kiwid\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n"
      "retry: 2000\n\n";
  bool open = co_await send(stream, head);
  auto last_write = std::chrono::steady_clock::now();
  auto last_read = std::chrono::steady_clock::time_point{};
  bool read_now = true;  // replay first
  bool done = false;
  while (open && !done && !stopping) {
    if (!read_now) {
      // Wait for the hub's signal, a second at most (shutdown), and read anyway every
      // keep-alive period in case a signal was lost while the hub reconnected to Redis.
      if (!me.pending.load()) {
        me.wake.expires_after(poll_block);
        co_await me.wake.async_wait(use_tuple);
      }
      const auto now = std::chrono::steady_clock::now();
      read_now = me.pending.load() || now - last_read >= keep_alive_every;
      if (!read_now) {
        if (now - last_write >= keep_alive_every) {
          open = co_await send(stream, ": keep-alive\n\n");
          last_write = now;
        }
        continue;
      }
    }
    me.pending.store(false);
    last_read = std::chrono::steady_clock::now();
    auto r = co_await ctx.redis.command(
        redis_args("XREAD", "COUNT", "200", "STREAMS", key, from), ctx.config.redis_timeout);
    if (r.ec) {
      // Redis went away: end the stream; the client reconnects with Last-Event-ID.
      break;
    }
    std::string frames;
    std::size_t entries = 0;
    for_each_read_entry(r.value, [&](const std::string& id, const std::string& event) {
      ++entries;
      from = id;
      if (event.empty()) {
        return;
      }
      const std::string_view type = stored_event_field(event, "type");
      const bool final = !build_id.empty() && is_final(type);
      if (!logs_only || final || type == "stage.log") {
        frames += sse_frame(from, type, event);
      }
      done = done || final;
    });
    read_now = entries == 200;  // a full page: more is waiting
    const auto now = std::chrono::steady_clock::now();
    if (frames.empty() && now - last_write >= keep_alive_every) {
      frames = ": keep-alive\n\n";
    }
    if (!frames.empty()) {
      open = co_await send(stream, frames);
      last_write = now;
    }
  }
}

}  // namespace kiwi

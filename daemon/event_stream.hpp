#pragma once
// Server-Sent Events for the API: GET /api/v1/builds/{id}/events (one build; the stream ends
// after its final event), GET /api/v1/builds/{id}/logs?follow=1 (the same with only its
// stage.log lines and the final event) and GET /api/v1/events (every build). Stored events are replayed from
// Last-Event-ID (the Redis stream entry id; a build stream without one starts at its first
// event, the all-builds stream at "now"), then followed live; a comment line every 15 s keeps
// proxies from closing an idle stream. Streams are woken by the event_hub (one Redis follower
// per kiwid) and read their key on their thread's shared connection; each client address may
// hold http.max_event_streams_per_client of them (more: 429).

#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "daemon/router.hpp"

namespace kiwi {

bool is_event_stream_route(const http_request& request);

// Writes the whole response (or an error response) and returns; the connection is closed
// afterwards (the stream's end is the connection's end). `stopping` ends it at shutdown.
boost::asio::awaitable<void> serve_event_stream(boost::beast::tcp_stream& stream,
                                                const http_request& request,
                                                router_context& ctx, const std::string& client,
                                                const bool& stopping);

// One SSE frame: "id: ...\nevent: ...\ndata: ...\n\n" (data is one line of JSON).
std::string sse_frame(std::string_view id, std::string_view type, std::string_view data);

}  // namespace kiwi

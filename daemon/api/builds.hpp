#pragma once
// Builds: a service's history, one build with its stages, its stored log, its scan, starting a build
// of a branch head or a commit, and cancelling one. (The live event streams are
// daemon/event_stream.cpp's.)

#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> list_builds(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> start_build(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> show_build(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> build_log(const api_request& req, api_context& ctx);
// The scan of a build's image (docs/scan.md): summary, gate verdict and findings; the report.
boost::asio::awaitable<api_reply> build_scan(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> build_scan_report(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> cancel_build(const api_request& req, api_context& ctx);

}  // namespace kiwi

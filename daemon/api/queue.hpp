#pragma once
// /queue and /dead-letters: the queue's counters (outcomes, running, retrying, waiting per
// service, dead letters), the dead-letter stream, and requeueing a dead-lettered build.

#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> queue_stats(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> list_dead_letters(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> requeue_dead_letter(const api_request& req, api_context& ctx);

}  // namespace kiwi

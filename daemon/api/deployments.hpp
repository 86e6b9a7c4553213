#pragma once
// Deployments (docs/deploy.md): deploying a build or an image digest to an environment, a
// service's deployment history, one revision, and rollback to a revision's image and config.
// Each deploy is a revision (common/queue/deployment_store.hpp) run by a worker through a
// deploy job on the queue. Production deploys and rollbacks need the deployer role.

#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> create_deployment(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> list_deployments(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> show_deployment(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> rollback_deployment(const api_request& req, api_context& ctx);

}  // namespace kiwi

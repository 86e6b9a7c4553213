#pragma once
// /services/{name}/dockerfile/preview: which Dockerfile a build of a ref would use, or what
// the wizard would generate for it, from kiwid's own mirror of the repository
// (daemon/dockerfile_preview.hpp).

#include <filesystem>

#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> show_dockerfile_preview(const api_request& req, api_context& ctx);

// kiwid's bare mirror of the service's repository, for previews.
std::filesystem::path preview_mirror_dir(const api_context& ctx, const std::string& service);

}  // namespace kiwi

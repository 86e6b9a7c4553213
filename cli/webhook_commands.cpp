// kiwictl webhook ...: show the setup, rotate the secret, install at the git host.
#include "cli/commands.hpp"

#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/cli_error.hpp"
#include "cli/output.hpp"

namespace kiwi::cli {

using json = nlohmann::json;

// --- webhook ---------------------------------------------------------------------------------

int webhook_command(command_env& env, const std::vector<std::string>& all) {
  auto [verb, args] = split_verb(all);
  if (verb == "show") {
    arguments a = env.parse(args, {});
    api_reply r = env.api().get("/services/" + segment(one_name(a, "service name")) + "/webhook");
    if (env.printed_json(r)) {
      return 0;
    }
    const json& b = r.body;
    for (const char* provider : {"github", "gitlab"}) {
      if (!b.contains(provider)) {
        continue;
      }
      const json& p = b[provider];
      std::cout << (std::string_view(provider) == "github" ? "GitHub" : "GitLab") << '\n';
      std::cout << "  payload URL:  " << text_of(p, "payload_url") << '\n';
      if (p.contains("content_type")) {
        std::cout << "  content type: " << text_of(p, "content_type") << '\n';
      }
      std::string events;
      for (const auto& e : p.value("events", json::array())) {
        events += (events.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump());
      }
      std::cout << "  events:       " << events << '\n';
      int n = 1;
      for (const auto& s : p.value("steps", json::array())) {
        std::cout << "  " << n++ << ". " << (s.is_string() ? s.get<std::string>() : s.dump())
                  << '\n';
      }
    }
    const std::string secret = text_of(b, "webhook_secret");
    std::cout << "webhook secret: "
              << (secret == "***" ? "*** (shown to admin tokens only)" : secret) << '\n';
    return 0;
  }
  if (verb == "install" || verb == "rotate") {
    arguments a = verb == "install" ? env.parse(args, {{"provider", true}, {"api-url", true}})
                                    : env.parse(args, {});
    const std::string name = one_name(a, "service name");
    const std::string path = "/services/" + segment(name) +
                             (verb == "install" ? "/webhook/install" : "/webhook/rotate-secret");
    json body = json::object();
    if (auto provider = a.get("provider")) {
      body["provider"] = *provider;
    }
    if (auto api_url = a.get("api-url")) {
      body["api_url"] = *api_url;
    }
    api_reply r = env.api().post(path, body);
    if (env.printed_json(r)) {
      return 0;
    }
    if (verb == "rotate") {
      std::cout << "new webhook secret of " << name << " (shown once): "
                << text_of(r.body, "webhook_secret") << '\n';
      if (auto next = text_of(r.body, "next"); !next.empty()) {
        std::cout << next << '\n';
      }
    } else {
      std::cout << "webhook of " << name << " installed";
      if (auto m = text_of(r.body, "message"); !m.empty()) {
        std::cout << ": " << m;
      }
      std::cout << '\n';
      if (r.body.is_object()) {
        for (const auto& [k, v] : r.body.items()) {
          if (k != "message") {
            std::cout << "  " << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump())
                      << '\n';
          }
        }
      }
    }
    return 0;
  }
  env.parse(args, {});
  throw usage_error(verb.empty() ? "webhook: which subcommand?"
                                 : "webhook: unknown subcommand \"" + verb + "\"");
}
}  // namespace kiwi::cli

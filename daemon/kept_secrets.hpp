#pragma once
// What a PUT of a resource keeps: the API never shows a secret (it answers "***"), so an edit
// form sends "***" back or leaves the secret out, and the stored value is kept. A kept secret
// goes only to the endpoint it was given for: when the URL it is sent to changes scheme, host
// or port, the request must supply the secret again (docs/security.md, "Where credentials
// go"). Otherwise an admin could point a resource at a host of their choosing and have Kiwi
// send it a secret the API never shows.
//
// Each function fills `body` (the request's JSON, before parsing) with the kept secrets, or
// throws field_error naming the secret to supply again.

#include <nlohmann/json_fwd.hpp>

#include "common/config/resources.hpp"

namespace kiwi {

// token and ssh_key follow git_url; webhook_secret (inbound only) is always kept.
void keep_secrets(nlohmann::json& body, const service_config& stored);
// password follows url.
void keep_secrets(nlohmann::json& body, const registry_config& stored);
// kubernetes: token follows api_url; docker: tls_key follows url / socket.
void keep_secrets(nlohmann::json& body, const runtime_config& stored);

}  // namespace kiwi

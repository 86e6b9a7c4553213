#include "daemon/api/openapi.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "daemon/api/routes.hpp"
#include "daemon/api/schemas.hpp"  // generated from daemon/api/schemas.json

namespace kiwi {
namespace {

using ojson = nlohmann::ordered_json;

// The common error answers, by status (components.responses of schemas.json).
const std::map<unsigned, std::string_view> error_answers = {
    {400, "BadRequest"}, {401, "Unauthorized"}, {403, "Forbidden"},
    {404, "NotFound"},   {409, "Conflict"},     {422, "Unprocessable"}};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

class writer {
 public:
  explicit writer(const ojson& skeleton) : components_(skeleton.at("components")) {
    for (const auto& tag : skeleton.at("tags")) {
      tags_.insert(tag.at("name").get<std::string>());
    }
  }

  ojson operation(const api_route& route) {
    const openapi_facts& doc = route.doc;
    const std::string where = std::string(route.method) + " " + std::string(route.path);
    if (!operation_ids_.insert(std::string(doc.operation_id)).second) {
      fail(where, "operationId " + std::string(doc.operation_id) + " is taken");
    }
    if (!tags_.contains(std::string(doc.tag))) {
      fail(where, "tag " + std::string(doc.tag) + " is not in schemas.json's tags");
    }
    std::string description = "Role: " + std::string(to_string(route.role)) + ".";
    if (!doc.description.empty()) {
      description += " " + std::string(doc.description);
    }
    ojson op{{"operationId", doc.operation_id},
             {"summary", doc.summary},
             {"description", description},
             {"tags", {doc.tag}},
             {"x-kiwi-role", to_string(route.role)}};
    ojson parameters = path_parameters(route.path);
    for (std::string_view name : doc.parameters) {
      parameters.push_back(ref(where, "parameters", name));
    }
    if (!parameters.empty()) {
      op["parameters"] = parameters;
    }
    if (!doc.request.empty()) {
      op["requestBody"] = {
          {"required", doc.request_required},
          {"content", {{"application/json", {{"schema", ref(where, "schemas", doc.request)}}}}}};
    }
    op["responses"] = responses(where, doc);
    return op;
  }

 private:
  [[noreturn]] static void fail(const std::string& where, const std::string& what) {
    throw std::logic_error("OpenAPI document: route " + where + ": " + what);
  }

  ojson ref(const std::string& where, const std::string& section, std::string_view name) const {
    if (!components_.at(section).contains(std::string(name))) {
      fail(where, std::string(name) + " is not in schemas.json's components." + section);
    }
    return ojson{{"$ref", "#/components/" + section + "/" + std::string(name)}};
  }

  static ojson path_parameters(std::string_view path) {
    ojson out = ojson::array();
    for (auto open = path.find('{'); open != std::string_view::npos;
         open = path.find('{', open + 1)) {
      const auto close = path.find('}', open);
      out.push_back({{"name", path.substr(open + 1, close - open - 1)},
                     {"in", "path"},
                     {"required", true},
                     {"schema", {{"type", "string"}}}});
    }
    return out;
  }

  ojson responses(const std::string& where, const openapi_facts& doc) const {
    std::map<unsigned, ojson> by_status;
    for (const openapi_answer& a : doc.answers) {
      if (a.schema.empty()) {
        fail(where, "the " + std::to_string(a.status) + " answer has no schema");
      }
      ojson& answer = by_status[a.status];
      answer["description"] = a.description;
      answer["content"][std::string(a.media)] = {{"schema", ref(where, "schemas", a.schema)}};
    }
    for (unsigned status : doc.errors) {
      const auto common = error_answers.find(status);
      if (common == error_answers.end()) {
        fail(where, "no common error answer for " + std::to_string(status));
      }
      if (!by_status.contains(status)) {
        by_status[status] = ref(where, "responses", common->second);
      }
    }
    ojson out = ojson::object();
    for (auto& [status, answer] : by_status) {
      out[std::to_string(status)] = std::move(answer);
    }
    return out;
  }

  const ojson& components_;
  std::set<std::string> tags_;
  std::set<std::string> operation_ids_;
};

}  // namespace

ojson openapi_json() {
  const ojson skeleton = ojson::parse(openapi_schemas_json);
  writer w(skeleton);
  ojson paths = ojson::object();
  for (const api_route& route : api_routes()) {
    paths["/api/v1" + std::string(route.path)][lower(route.method)] = w.operation(route);
  }
  // The skeleton's keys in their order, the paths before the components they refer to.
  ojson doc = ojson::object();
  for (const auto& [key, value] : skeleton.items()) {
    if (key == "components") {
      doc["paths"] = paths;
    }
    doc[key] = value;
  }
  return doc;
}

const std::string& openapi_text() {
  static const std::string text = openapi_json().dump(2) + "\n";
  return text;
}

boost::asio::awaitable<api_reply> serve_openapi(const api_request&, api_context&) {
  api_reply reply;
  reply.raw = openapi_text();
  co_return reply;
}

}  // namespace kiwi

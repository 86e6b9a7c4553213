#include "daemon/api/routes.hpp"

#include "daemon/api/builds.hpp"
#include "daemon/api/deployments.hpp"
#include "daemon/api/openapi.hpp"
#include "daemon/api/preview.hpp"
#include "daemon/api/queue.hpp"
#include "daemon/api/registries.hpp"
#include "daemon/api/runtimes.hpp"
#include "daemon/api/services.hpp"
#include "daemon/api/tokens.hpp"
#include "daemon/api/webhooks.hpp"

namespace kiwi {
namespace {

constexpr auto viewer = api_role::viewer;
constexpr auto developer = api_role::developer;
constexpr auto admin = api_role::admin;

// The answer of a registry or runtime connection test.
const std::vector<openapi_answer> resource_test_answers = {
    {200, "the test passed", "ResourceTest"},
    {422, "the test failed: error says why, kind classifies it", "ResourceTest"}};

}  // namespace

const std::vector<api_route>& api_routes() {
  static const std::vector<api_route> table{
      // --- services ---------------------------------------------------------------------
      {"GET", "/services", viewer, list_services,
       {.operation_id = "listServices", .tag = "services",
        .summary = "List services (config file and registered)",
        .answers = {{200, "the services", "ServiceList"}}}},
      {"POST", "/services", admin, create_service,
       {.operation_id = "createService", .tag = "services", .summary = "Register a service",
        .request = "Service", .answers = {{201, "the service", "Service"}}}},
      {"POST", "/services/test-connection", developer, test_connection_form,
       {.operation_id = "testConnection", .tag = "services",
        .summary = "Test a repository connection with the form's values before saving",
        .description = "file:// URLs need admin (403 naming git_url). Failure kinds: "
                       "authentication, not_found, timeout, certificate, host_key, denied "
                       "(git.allowed_hosts/denied_hosts), other; for non-admins timeout and "
                       "other are reported as one kind, unreachable.",
        .request = "Service", .answers = {{200, "branches", "ConnectionTest"}}}},
      {"GET", "/services/{name}", viewer, show_service,
       {.operation_id = "getService", .tag = "services", .summary = "Show a service",
        .answers = {{200, "the service", "Service"}}}},
      {"PUT", "/services/{name}", admin, replace_service,
       {.operation_id = "replaceService", .tag = "services",
        .summary = "Replace a registered service (secrets sent as *** are kept)",
        .request = "Service", .answers = {{200, "the service", "Service"}}}},
      {"DELETE", "/services/{name}", admin, delete_service,
       {.operation_id = "deleteService", .tag = "services",
        .summary = "Delete a registered service", .answers = {{200, "deleted", "Deleted"}}}},
      {"POST", "/services/{name}/test-connection", developer, test_connection_saved,
       {.operation_id = "testServiceConnection", .tag = "services",
        .summary = "Test a saved service's repository connection",
        .answers = {{200, "branches", "ConnectionTest"}}}},
      // --- webhooks ---------------------------------------------------------------------
      {"GET", "/services/{name}/webhook", viewer, webhook_setup,
       {.operation_id = "getWebhookSetup", .tag = "webhooks",
        .summary = "Webhook setup: payload URLs, events, steps; the secret for admins",
        .answers = {{200, "how to set up the webhook", "WebhookSetup"}}}},
      {"POST", "/services/{name}/webhook/rotate-secret", admin, rotate_webhook_secret,
       {.operation_id = "rotateWebhookSecret", .tag = "webhooks",
        .summary = "Generate a new webhook secret (shown once)",
        .answers = {{200, "the new secret", "WebhookSecret"}}}},
      {"POST", "/services/{name}/webhook/install", admin, install_webhook_hook,
       {.operation_id = "installWebhook", .tag = "webhooks",
        .summary = "Create or update the service's webhook on GitHub or GitLab with its token",
        .description = "Body (optional): {\"provider\": \"github\"|\"gitlab\", \"api_url\": "
                       "\"...\"} for hosts Kiwi cannot recognise (GitHub Enterprise, "
                       "self-hosted GitLab); api_url must be on the git URL's host "
                       "(api.github.com for github.com), over https unless the git URL is "
                       "http, else 422 naming api_url. An existing hook with the same payload "
                       "URL is updated, not duplicated. 201 created, 200 updated; 422 with "
                       "what the token lacks; 502 when the forge cannot be reached.",
        .request = "WebhookInstallRequest", .request_required = false,
        .answers = {{200, "hook updated", "WebhookInstall"},
                    {201, "hook created", "WebhookInstall"},
                    {502, "the forge cannot be reached", "WebhookInstall"}}}},
      {"GET", "/services/{name}/dockerfile/preview", viewer, show_dockerfile_preview,
       {.operation_id = "previewDockerfile", .tag = "services",
        .summary = "Preview the Dockerfile a build of a ref would use, or what the wizard "
                   "would generate",
        .description = "kiwid fetches the ref into its own bare mirror of the repository "
                       "(<data_dir>/preview-mirrors/<service>.git, with the service's "
                       "credentials, within worker.clone_timeout_s) and reads the commit's "
                       "tree without a checkout. Mode auto and path show the repository's "
                       "Dockerfile; mode wizard what the wizard generates "
                       "(build.wizard_images), with its .dockerignore and what it detected. "
                       "Secrets are masked as in the build log.",
        .parameters = {"PreviewRef", "PreviewMode", "PreviewLanguage", "PreviewFramework"},
        .answers = {{200, "the Dockerfile", "DockerfilePreview"},
                    {404, "no such service, or the ref is not in the repository (kind "
                          "ref_not_found, field ref)", "PreviewError"},
                    {422, "the Dockerfile cannot be found or generated (kind dockerfile; field "
                          "names the setting), the git server refused the credentials or has "
                          "no such repository (kind authentication, not_found, certificate, "
                          "host_key), or a bad query parameter", "PreviewError"},
                    {502, "the git server could not be reached in time or failed (kind "
                          "timeout, other)", "PreviewError"}},
        .errors = {401, 403}}},
      // --- builds -----------------------------------------------------------------------
      {"GET", "/services/{name}/builds", viewer, list_builds,
       {.operation_id = "listBuilds", .tag = "builds",
        .summary = "Builds of a service, newest first",
        .parameters = {"BuildsLimit", "BuildsOffset"},
        .answers = {{200, "items and next_offset", "BuildList"}}}},
      {"POST", "/services/{name}/builds", developer, start_build,
       {.operation_id = "startBuild", .tag = "builds",
        .summary = "Start a build of a branch head or a commit",
        .description = "Body (optional): branch (default the service's) or a full commit id; "
                       "without a commit, kiwid reads the branch's head from the git server.",
        .request = "BuildRequest", .request_required = false,
        .answers = {{202, "queued", "BuildQueued"}}}},
      {"GET", "/builds/{id}", viewer, show_build,
       {.operation_id = "getBuild", .tag = "builds", .summary = "Show a build with its stages",
        .answers = {{200, "the build", "Build"}}}},
      {"GET", "/builds/{id}/logs", viewer, build_log,
       {.operation_id = "getBuildLog", .tag = "builds",
        .summary = "The build's log: its stage.log lines as text, or live with ?follow=1",
        .description = "Without follow: text/plain, one \"[stage] line\" per stored log line "
                       "(secrets redacted by the worker; capped per build with a truncation "
                       "marker). With ?follow=1: text/event-stream of the stored stage.log "
                       "events, then the live ones, ending after the build's final event; "
                       "Last-Event-ID resumes.",
        .parameters = {"Follow", "LastEventId"},
        .answers = {{200, "the log", "LogText", "text/plain"},
                    {200, "the log", "EventStream", "text/event-stream"}}}},
      {"GET", "/builds/{id}/scan", viewer, build_scan,
       {.operation_id = "getBuildScan", .tag = "builds",
        .summary = "The scan of a build's image: summary, gate verdict and findings",
        .description = "404 when the build has no scan (not scanned yet, or the scan was "
                       "skipped: the message says why). status error: the scanner failed and "
                       "the build with it (message). Findings worst first, at most 1,000.",
        .answers = {{200, "the scan", "BuildScan"}}}},
      {"GET", "/builds/{id}/scan/report", viewer, build_scan_report,
       {.operation_id = "getBuildScanReport", .tag = "builds",
        .summary = "The scanner's full report (Trivy JSON) as stored",
        .answers = {{200, "the report", "ScanReport"}}}},
      {"POST", "/builds/{id}/cancel", developer, cancel_build,
       {.operation_id = "cancelBuild", .tag = "builds",
        .summary = "Cancel a build (queued: at once; running: within 2 s)",
        .answers = {{200, "cancelled", "BuildCancel"},
                    {202, "cancelling: the running build stops within 2 s", "BuildCancel"}}}},
      {"GET", "/builds/{id}/events", viewer, nullptr,
       {.operation_id = "streamBuildEvents", .tag = "builds",
        .summary = "Server-Sent Events of one build: replay from Last-Event-ID (default: from "
                   "the start), then live; ends after the final event",
        .parameters = {"LastEventId"},
        .answers = {{200, "the events", "EventStream", "text/event-stream"}}}},
      {"GET", "/events", viewer, nullptr,
       {.operation_id = "streamEvents", .tag = "builds",
        .summary = "Server-Sent Events of every build: replay from Last-Event-ID (default: "
                   "from now), then live",
        .parameters = {"LastEventId"},
        .answers = {{200, "the events", "EventStream", "text/event-stream"}}}},
      // --- deployments ------------------------------------------------------------------
      {"POST", "/services/{name}/deployments", developer, create_deployment,
       {.operation_id = "createDeployment", .tag = "deployments",
        .summary = "Deploy a build (or an image digest) to one of the service's environments",
        .description = "Body: environment, and build (a build id of the service that pushed "
                       "an image) or image (a digest of the service's repository). Production "
                       "needs the deployer role (403 naming environment). 202 with the new "
                       "revision; a worker runs it (deploy.* events).",
        .request = "DeploymentRequest",
        .answers = {{202, "queued", "Deployment"}}}},
      {"GET", "/services/{name}/deployments", viewer, list_deployments,
       {.operation_id = "listDeployments", .tag = "deployments",
        .summary = "Deployment history, newest first (of one environment with ?env=)",
        .parameters = {"DeploymentsEnv", "DeploymentsLimit"},
        .answers = {{200, "the revisions", "DeploymentList"}}}},
      {"GET", "/deployments/{id}", viewer, show_deployment,
       {.operation_id = "getDeployment", .tag = "deployments",
        .summary = "Show a deployment revision",
        .answers = {{200, "the revision", "Deployment"}}}},
      {"POST", "/deployments/{id}/rollback", developer, rollback_deployment,
       {.operation_id = "rollbackDeployment", .tag = "deployments",
        .summary = "Redeploy an earlier revision's image and config as a new revision",
        .description = "Body (optional): to, a revision number of the same environment; "
                       "default the last successful revision before this one (409 when there "
                       "is none). The new revision is marked rollback_of it. Production needs "
                       "the deployer role.",
        .request = "RollbackRequest", .request_required = false,
        .answers = {{202, "queued", "Deployment"}}}},
      // --- queue ------------------------------------------------------------------------
      {"GET", "/queue", viewer, queue_stats,
       {.operation_id = "getQueue", .tag = "queue", .summary = "Queue statistics",
        .answers = {{200, "the counters", "QueueStats"}}}},
      {"GET", "/dead-letters", viewer, list_dead_letters,
       {.operation_id = "listDeadLetters", .tag = "queue",
        .summary = "Dead-lettered builds, newest first", .parameters = {"DeadLettersLimit"},
        .answers = {{200, "the entries", "DeadLetterList"}}}},
      {"POST", "/dead-letters/{id}/requeue", admin, requeue_dead_letter,
       {.operation_id = "requeueDeadLetter", .tag = "queue",
        .summary = "Requeue a dead-lettered build (attempts reset) by its dead-letter entry id",
        .answers = {{202, "queued", "Requeued"}}}},
      // --- registries -------------------------------------------------------------------
      {"GET", "/registries", viewer, list_registries,
       {.operation_id = "listRegistries", .tag = "registries", .summary = "List registries",
        .answers = {{200, "the registries", "RegistryList"}}}},
      {"POST", "/registries", admin, create_registry,
       {.operation_id = "createRegistry", .tag = "registries", .summary = "Create a registry",
        .request = "Registry", .answers = {{201, "created", "Registry"}}}},
      {"GET", "/registries/{name}", viewer, show_registry,
       {.operation_id = "getRegistry", .tag = "registries", .summary = "Show a registry",
        .answers = {{200, "the registry", "Registry"}}}},
      {"PUT", "/registries/{name}", admin, replace_registry,
       {.operation_id = "replaceRegistry", .tag = "registries",
        .summary = "Replace a registered registry", .request = "Registry",
        .answers = {{200, "the registry", "Registry"}}}},
      {"DELETE", "/registries/{name}", admin, delete_registry,
       {.operation_id = "deleteRegistry", .tag = "registries",
        .summary = "Delete a registered registry", .answers = {{200, "deleted", "Deleted"}}}},
      {"POST", "/registries/{name}/test", developer, test_registry,
       {.operation_id = "testRegistry", .tag = "registries",
        .summary = "Test a registry's address and credentials",
        .description = "The registry v2 login flow within 10 s: GET /v2/, then Basic "
                       "credentials or a Bearer token from the registry's token service "
                       "(docs/api.md). Config-file registries too.",
        .answers = resource_test_answers, .errors = {401, 403, 404}}},
      // --- runtimes ---------------------------------------------------------------------
      {"GET", "/runtimes", viewer, list_runtimes,
       {.operation_id = "listRuntimes", .tag = "runtimes", .summary = "List runtimes",
        .answers = {{200, "the runtimes", "RuntimeList"}}}},
      {"POST", "/runtimes", admin, create_runtime,
       {.operation_id = "createRuntime", .tag = "runtimes", .summary = "Create a runtime",
        .request = "Runtime", .answers = {{201, "created", "Runtime"}}}},
      {"GET", "/runtimes/{name}", viewer, show_runtime,
       {.operation_id = "getRuntime", .tag = "runtimes", .summary = "Show a runtime",
        .answers = {{200, "the runtime", "Runtime"}}}},
      {"PUT", "/runtimes/{name}", admin, replace_runtime,
       {.operation_id = "replaceRuntime", .tag = "runtimes",
        .summary = "Replace a registered runtime", .request = "Runtime",
        .answers = {{200, "the runtime", "Runtime"}}}},
      {"DELETE", "/runtimes/{name}", admin, delete_runtime,
       {.operation_id = "deleteRuntime", .tag = "runtimes",
        .summary = "Delete a registered runtime", .answers = {{200, "deleted", "Deleted"}}}},
      {"POST", "/runtimes/{name}/test", developer, test_runtime,
       {.operation_id = "testRuntime", .tag = "runtimes",
        .summary = "Test a runtime's endpoint and credentials",
        .description = "Docker: GET /_ping and /version on the socket or tcp:// URL; "
                       "Kubernetes: GET /version with the bearer token and the runtime's CA; "
                       "within 10 s (docs/api.md). Config-file runtimes too.",
        .answers = resource_test_answers, .errors = {401, 403, 404}}},
      // --- tokens and this document -----------------------------------------------------
      {"GET", "/tokens", admin, list_tokens,
       {.operation_id = "listTokens", .tag = "tokens",
        .summary = "List API tokens (names and roles)",
        .answers = {{200, "the tokens", "TokenList"}}}},
      {"POST", "/tokens", admin, create_token,
       {.operation_id = "createToken", .tag = "tokens",
        .summary = "Create an API token (shown once)", .request = "TokenRequest",
        .answers = {{201, "the token", "NewToken"}}}},
      {"DELETE", "/tokens/{name}", admin, delete_token,
       {.operation_id = "deleteToken", .tag = "tokens", .summary = "Revoke an API token",
        .answers = {{200, "deleted", "Deleted"}}}},
      {"GET", "/openapi.json", viewer, serve_openapi,
       {.operation_id = "getOpenApiDocument", .tag = "openapi", .summary = "This document",
        .answers = {{200, "the OpenAPI 3 document", "OpenApiDocument"}}}},
  };
  return table;
}

std::optional<std::vector<std::pair<std::string, std::string>>> match_route(
    std::string_view path, const std::vector<std::string>& segments) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t i = 0;
  path.remove_prefix(1);
  while (!path.empty()) {
    auto slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    const bool is_param = seg.starts_with("{");
    if (i >= segments.size() || (!is_param && seg != segments[i]) ||
        (is_param && segments[i].empty())) {
      return std::nullopt;
    }
    if (is_param) {
      params.emplace_back(seg.substr(1, seg.size() - 2), segments[i]);
    }
    ++i;
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  if (i != segments.size()) {
    return std::nullopt;
  }
  return params;
}

}  // namespace kiwi

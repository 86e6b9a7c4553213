#include "cli/usage.hpp"

namespace kiwi::cli {

const std::string_view main_usage =
    R"(kiwictl: the command-line client of Kiwi's REST API (docs/kiwictl.md)

usage: kiwictl [--url URL] [--token-file FILE] [--output json] COMMAND ...

commands:
  service register [flags | --from-file F]   register a service (no flags: a wizard)
  service list | show NAME | test NAME | delete NAME | update NAME [flags | --from-file F]
  service dockerfile-preview NAME [--ref R] [--mode M] [--language L] [--framework F]
  registry list | show NAME | create [flags | --from-file F] | delete NAME | test NAME
  runtime list | show NAME | create [flags | --from-file F] | delete NAME | test NAME
  webhook show NAME | install NAME | rotate NAME
  build start NAME [--branch B | --commit SHA] [-f] | list NAME [--limit N] [--offset N]
  build show ID | cancel ID | logs ID [-f] | scan ID
  queue
  token create NAME --role admin|deployer|developer|viewer | list | delete NAME
  deploy NAME --env E --build ID | history NAME --env E | rollback NAME --env E [--to REV]
  deploy show ID
  kiwictl COMMAND --help shows a command's options.

global options (before the command; after it too, unless the command has an option of
that name, such as service register --token-file):
  --url URL          kiwid's address (default $KIWI_URL, else http://127.0.0.1:8080)
  --token-file FILE  file holding the API token (default $KIWI_TOKEN, else the file named
                     by $KIWI_TOKEN_FILE)
  -o, --output json  print the API's JSON as it is (read commands; build logs -f: one
                     event per line)
  -h, --help         this text

environment: KIWI_URL, KIWI_TOKEN, KIWI_TOKEN_FILE, KIWI_CA_FILE (CA bundle for https://)

exit codes:
  0  success
  1  kiwid answered an error (its "error" and "field" are printed), a connection test
     failed, or a followed build failed
  2  usage error: unknown command or option, missing argument, unreadable file, the input
     ended during the wizard
  3  a followed build ended cancelled or superseded
  4  kiwid cannot be reached (not running, wrong KIWI_URL, timeout)
  5  authentication or authorization failed (HTTP 401 or 403: token missing, wrong or
     revoked, or its role is too low)
)";

namespace {

constexpr std::string_view service_usage =
    R"(usage:
  kiwictl service list
  kiwictl service show NAME
  kiwictl service register                      (interactive wizard)
  kiwictl service register --name N --git-url URL --branch B [options]
  kiwictl service register --from-file service.json [options overriding the file]
  kiwictl service update NAME [options | --from-file service.json]
  kiwictl service test NAME                     (connection test: lists the branches)
  kiwictl service dockerfile-preview NAME [--ref R] [--mode auto|path|wizard]
                            [--language L] [--framework F]
                                                (the Dockerfile a build of the ref would use,
                                                or what the wizard would generate; --language
                                                and --framework preview wizard choices before
                                                they are saved)
  kiwictl service delete NAME

service options (docs/configuration.md):
  --name NAME                  DNS-1123 label, e.g. user-api
  --git-url URL                https://, http://, ssh://, git:// or file:// clone URL
  --branch BRANCH              the branch whose pushes build
  --token-file FILE            file holding the git personal access token (or the wizard;
                               secrets are never taken as arguments: ps shows them)
  --git-username USER          user sent with the token
  --ssh-key-file FILE          ed25519 private key for an ssh:// URL
  --webhook-secret-file FILE   file holding the secret (>= 16 characters); generated when absent
  --build-tags[=false]         whether tag pushes build
  --cancel-superseded[=false]  a newer push supersedes older builds of the ref (default true)
  --max-concurrent-builds N    1-1000
  --dockerfile-mode MODE       auto, path, wizard or none (clone only)
  --dockerfile-path PATH       (mode path) e.g. docker/Dockerfile
  --dockerfile-context DIR     (mode path) build context, default .
  --language LANG              (mode wizard) node, python, java or go
  --framework NAME             (mode wizard) e.g. express, flask
  --registry NAME              a registry to push to (then --image)
  --image REPO                 e.g. library/user-api
  --tag-rule RULE              e.g. ${BRANCH}-${SHORT_SHA}
  --build-runtime NAME         local (buildah) or a kubernetes runtime
  --from-file FILE             the service as JSON (as `service show -o json` prints it);
                               token_file/ssh_key_file in it are read and sent inline
)";

constexpr std::string_view build_usage =
    R"(usage:
  kiwictl build start NAME [--branch B | --commit SHA] [-f]
  kiwictl build list NAME [--limit N] [--offset N]
  kiwictl build show ID
  kiwictl build cancel ID
  kiwictl build logs ID [-f]

  -f, --follow   follow the build's events live until it ends; exit 0 succeeded,
                 1 failed, 3 cancelled or superseded (reconnects when the stream drops)
  build logs without -f prints a finished build's events, or an unfinished one's stages.
)";

constexpr std::string_view registry_usage =
    R"(usage:
  kiwictl registry list
  kiwictl registry show NAME
  kiwictl registry create --name N --url HOST [--username U --password-file F]
                          [--insecure]
  kiwictl registry create --from-file registry.json
  kiwictl registry delete NAME
  kiwictl registry test NAME
)";

constexpr std::string_view runtime_usage =
    R"(usage:
  kiwictl runtime list
  kiwictl runtime show NAME
  kiwictl runtime create --name N --type kubernetes --api-url https://... --token-file F
                         [--ca-file F] [--namespace NS]
  kiwictl runtime create --name N --type docker (--socket PATH | --url tcp://host:port)
                         [--tls-ca-file F --tls-cert-file F --tls-key-file F]
  kiwictl runtime create --from-file runtime.json
  kiwictl runtime delete NAME
  kiwictl runtime test NAME
)";

constexpr std::string_view webhook_usage =
    R"(usage:
  kiwictl webhook show NAME      payload URLs, events and steps (the secret with an admin token)
  kiwictl webhook install NAME [--provider github|gitlab] [--api-url URL]
                                 create (or update) the webhook on GitHub/GitLab through kiwid
                                 with the service's token; --provider/--api-url for hosts
                                 kiwid cannot recognise (GitHub Enterprise, self-hosted GitLab)
  kiwictl webhook rotate NAME    a new webhook secret (shown once)
)";

constexpr std::string_view queue_usage =
    R"(usage:
  kiwictl queue                  outcome counters, running, retrying, dead letters, waiting
)";

constexpr std::string_view token_usage =
    R"(usage:
  kiwictl token create NAME --role admin|deployer|developer|viewer   (shown once)
  kiwictl token list
  kiwictl token delete NAME
)";

constexpr std::string_view deploy_usage =
    R"(usage:
  kiwictl deploy NAME --env E --build ID     deploy a build's image (by digest) to environment E
  kiwictl deploy NAME --env E --image sha256:...   or an image digest of the service's repository
  kiwictl deploy history NAME --env E        the environment's revisions, newest first
  kiwictl deploy rollback NAME --env E [--to REVISION]
                                             redeploy a revision's image and config (default: the
                                             last successful one before the current)
  kiwictl deploy show ID                     one revision: status, message, diagnostics, url
production deploys and rollbacks need a deployer (or admin) token (docs/deploy.md).
)";

}  // namespace

std::string_view usage_of(std::string_view noun) {
  if (noun == "service") return service_usage;
  if (noun == "build") return build_usage;
  if (noun == "registry") return registry_usage;
  if (noun == "runtime") return runtime_usage;
  if (noun == "webhook") return webhook_usage;
  if (noun == "queue") return queue_usage;
  if (noun == "token") return token_usage;
  if (noun == "deploy") return deploy_usage;
  return main_usage;
}

}  // namespace kiwi::cli

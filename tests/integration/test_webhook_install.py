"""`POST /api/v1/services/{name}/webhook/install` (docs/api.md) over real HTTP against a real
kiwid and redis-server. GitHub and GitLab cannot run here: their webhook endpoints are served by
tests/support/forge_stub.py, a stand-in following the documented API (named in the README)."""

import json
import os
import subprocess
import sys

import pytest

from kiwi_harness import Kiwi, RedisServer, free_port, rmtree, tempdir, wait_until, _port_open

GH_TOKEN = "ghp_UNIQUEgithubtoken7f3a9c01"
GH_WEAK = "ghp_UNIQUEweaktoken2b8e4d55"
GL_TOKEN = "glpat-UNIQUEgitlabtoken91c2"
GL_READONLY = "glpat-UNIQUEreadonly44d0"
PUBLIC_URL = "https://kiwi.example.com"
STUB = os.path.join(os.path.dirname(__file__), "..", "support", "forge_stub.py")


class ForgeStub:
    def __init__(self, root, config):
        self.port = free_port()
        self.state_file = os.path.join(root, "forge-state.json")
        self.proc = subprocess.Popen([sys.executable, STUB, str(self.port), self.state_file,
                                      json.dumps(config)])
        wait_until(lambda: _port_open(self.port), what="forge stub listening")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def state(self):
        with open(self.state_file) as f:
            return json.load(f)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def env():
    root = tempdir()
    redis_server = RedisServer(root).start()
    stub = ForgeStub(root, {
        "github": {"repos": ["acme/user-api"],
                   "tokens": {GH_TOKEN: "admin:repo_hook, repo", GH_WEAK: "repo"}},
        "gitlab": {"projects": ["platform/backend/user-api"],
                   "tokens": {GL_TOKEN: ["api"], GL_READONLY: ["read_repository"]}}})
    kiwi = Kiwi(root, redis_server.url, [], workers=0,
                extra={"public_url": PUBLIC_URL}).start()
    state = {"root": root, "kiwi": kiwi, "stub": stub, "admin": kiwi.admin_token()}
    yield state
    kiwi.stop()
    stub.stop()
    redis_server.stop()
    rmtree(root)


def register(env, name, git_url, token, **over):
    body = {"name": name, "git_url": git_url, "branch": "main"}
    if token:
        body["token"] = token
    body.update(over)
    status, answer = env["kiwi"].api("POST", "/services", body, env["admin"])
    assert status == 201, answer


def gh(env):
    """The repository's clone URL on the stub's host: the API must be the git host's."""
    return env["stub"].url + "/acme/user-api.git"


def gl(env, path):
    return f"{env['stub'].url}/{path}.git"


def install(env, name, body=None):
    return env["kiwi"].api("POST", f"/services/{name}/webhook/install", body, env["admin"])


def secret_of(env, name):
    status, info = env["kiwi"].api("GET", f"/services/{name}/webhook", None, env["admin"])
    assert status == 200
    return info["webhook_secret"]


def assert_no_secrets(env, *answers):
    text = env["kiwi"].kiwid.output() + json.dumps(answers)
    for secret in (GH_TOKEN, GH_WEAK, GL_TOKEN, GL_READONLY):
        assert secret not in text


def test_github_hook_is_created_then_updated_never_duplicated(env):
    register(env, "user-api", gh(env), GH_TOKEN)
    api_url = {"provider": "github", "api_url": env["stub"].url}
    status, first = install(env, "user-api", api_url)
    assert status == 201, first
    assert first["ok"] and first["action"] == "created" and first["provider"] == "github"
    assert first["project"] == "acme/user-api"
    assert first["payload_url"] == PUBLIC_URL + "/hooks/github/user-api"
    assert "warning" not in first
    hooks = env["stub"].state()["github"]["acme/user-api"]
    assert len(hooks) == 1
    assert hooks[0]["config"]["url"] == PUBLIC_URL + "/hooks/github/user-api"
    assert hooks[0]["config"]["secret"] == secret_of(env, "user-api")
    assert hooks[0]["config"]["content_type"] == "json"
    assert hooks[0]["events"] == ["push"] and hooks[0]["active"] is True
    assert str(hooks[0]["id"]) == first["hook_id"]

    # After a rotation, installing again carries the new secret to the same hook.
    status, rotated = env["kiwi"].api("POST", "/services/user-api/webhook/rotate-secret", None,
                                      env["admin"])
    assert status == 200
    status, second = install(env, "user-api", api_url)
    assert status == 200, second
    assert second["action"] == "updated" and second["hook_id"] == first["hook_id"]
    hooks = env["stub"].state()["github"]["acme/user-api"]
    assert len(hooks) == 1
    assert hooks[0]["config"]["secret"] == rotated["webhook_secret"]
    # The token went in the Authorization header, never in a URL.
    for r in env["stub"].state()["requests"]:
        assert r["auth"] == ["Authorization"] and GH_TOKEN not in r["path"]
    assert_no_secrets(env, first, second)


def test_github_token_without_the_hook_scope_is_explained(env):
    register(env, "weak", gh(env), GH_WEAK)
    status, answer = install(env, "weak", {"provider": "github", "api_url": env["stub"].url})
    assert status == 422, answer
    assert answer["ok"] is False
    assert "admin:repo_hook" in answer["error"]
    assert "the token has the scopes: repo" in answer["error"]
    assert env["stub"].state()["github"] == {}
    register(env, "bad", gh(env), "ghp_UNIQUEnotatoken")
    status, answer = install(env, "bad", {"provider": "github", "api_url": env["stub"].url})
    assert status == 422
    assert answer["error"].startswith("GitHub rejected the service's token (Bad credentials)")
    assert "ghp_UNIQUEnotatoken" not in json.dumps(answer)
    assert_no_secrets(env, answer)


def test_gitlab_hook_filters_the_branch_and_carries_the_secret(env):
    register(env, "gl-api", gl(env, "platform/backend/user-api"), GL_TOKEN,
             build_tags=True)
    status, answer = install(env, "gl-api", {"provider": "gitlab"})
    assert status == 201, answer
    assert answer["provider"] == "gitlab" and answer["project"] == "platform/backend/user-api"
    hooks = env["stub"].state()["gitlab"]["platform/backend/user-api"]
    assert len(hooks) == 1
    hook = hooks[0]
    assert hook["url"] == PUBLIC_URL + "/hooks/gitlab/gl-api"
    assert hook["token"] == secret_of(env, "gl-api")
    assert hook["push_events"] is True and hook["tag_push_events"] is True
    assert hook["push_events_branch_filter"] == "main"
    assert hook["enable_ssl_verification"] is True
    # The project path is one URL-encoded segment; the token is in PRIVATE-TOKEN.
    paths = [r["path"] for r in env["stub"].state()["requests"]]
    assert any("/projects/platform%2Fbackend%2Fuser-api/hooks" in p for p in paths), paths
    status, again = install(env, "gl-api", {"provider": "gitlab"})
    assert status == 200 and again["action"] == "updated"
    assert len(env["stub"].state()["gitlab"]["platform/backend/user-api"]) == 1
    assert_no_secrets(env, answer, again)


def test_gitlab_scope_role_and_missing_project_messages(env):
    register(env, "ro", gl(env, "platform/backend/user-api"), GL_READONLY)
    status, answer = install(env, "ro", {"provider": "gitlab"})
    assert status == 422
    assert "the token needs the api scope" in answer["error"]
    register(env, "gone", gl(env, "platform/gone"), GL_TOKEN)
    status, answer = install(env, "gone", {"provider": "gitlab"})
    assert status == 422
    assert answer["error"].startswith("GitLab project platform/gone was not found")
    assert_no_secrets(env, answer)


def test_what_to_give_when_kiwi_cannot_tell_the_forge_or_has_no_token(env):
    register(env, "selfhost", "https://git.company.internal/team/app.git", GL_TOKEN)
    status, answer = install(env, "selfhost")
    assert status == 422 and answer["field"] == "provider"
    assert "github or gitlab" in answer["error"]
    status, answer = install(env, "selfhost", {"provider": "bitbucket"})
    assert status == 422 and answer["field"] == "provider"
    status, answer = install(env, "selfhost", {"provider": "gitlab", "colour": "red"})
    assert status == 422 and answer["field"] == "colour"
    register(env, "anon", "https://github.com/acme/user-api.git", None)
    status, answer = install(env, "anon")
    assert status == 422 and answer["field"] == "token"
    assert "admin:repo_hook" in answer["error"]
    status, answer = install(env, "ghost")
    assert status == 404


def test_an_unreachable_forge_is_a_502_naming_it(env):
    closed = f"http://127.0.0.1:{free_port()}"
    register(env, "user-api", closed + "/acme/user-api.git", GH_TOKEN)
    status, answer = install(env, "user-api", {"provider": "github", "api_url": closed})
    assert status == 502, answer
    assert answer["error"].startswith("cannot reach GitHub's API at " + closed)
    assert_no_secrets(env, answer)


def test_a_loopback_public_url_is_installed_with_a_warning(env):
    root = env["root"]
    kiwi = Kiwi(os.path.join(root, "second"), env["kiwi"].config["redis"], [], workers=0,
                extra={"public_url": "http://127.0.0.1:8080"}).start()
    try:
        admin = kiwi.admin_token()
        status, _ = kiwi.api("POST", "/services", {
            "name": "local-api", "git_url": gh(env),
            "branch": "main", "token": GH_TOKEN}, admin)
        assert status == 201
        status, answer = kiwi.api("POST", "/services/local-api/webhook/install",
                                  {"provider": "github", "api_url": env["stub"].url}, admin)
        assert status == 201, answer
        assert "cannot reach" in answer["warning"]
        hook = env["stub"].state()["github"]["acme/user-api"][0]
        assert hook["config"]["insecure_ssl"] == "0"
        assert hook["config"]["url"] == "http://127.0.0.1:8080/hooks/github/local-api"
    finally:
        kiwi.stop()


def test_the_token_goes_only_to_the_git_hosts_api(env):
    """An admin cannot have the service's token sent to an API of their choosing."""
    register(env, "user-api", "https://github.com/acme/user-api.git", GH_TOKEN)
    register(env, "gl-api", gl(env, "platform/backend/user-api"), GL_TOKEN)
    elsewhere = f"http://localhost:{env['stub'].port}"  # the stub, under another host name
    for name, body in (("user-api", {"api_url": env["stub"].url}),
                       ("user-api", {"provider": "github", "api_url": "https://evil.example"}),
                       ("gl-api", {"provider": "gitlab", "api_url": elsewhere + "/api/v4"})):
        status, answer = install(env, name, body)
        assert status == 422 and answer["field"] == "api_url", answer
        assert "the service's token is sent there" in answer["error"], answer
    assert env["stub"].state()["requests"] == []
    # The git host's own API is accepted (derived when api_url is left out).
    status, answer = install(env, "gl-api", {"provider": "gitlab",
                                             "api_url": env["stub"].url + "/api/v4"})
    assert status == 201, answer
    assert_no_secrets(env, answer)

"""GET /api/v1/services/{name}/dockerfile/preview over real HTTP, against a real kiwid and
redis-server and real git servers (lighttpd + git-http-backend with a token, git daemon): kiwid
fetches the ref into its own bare mirror and shows the Dockerfile a build would use, or what the
wizard would generate, or says exactly what is wrong, with no secret in any answer or log."""

import json
import os
import re
import urllib.parse

import pytest

from kiwi_harness import (FIXTURES, GitDaemon, GitHttpServer, GitRepo, Kiwi, RedisServer,
                          kiwictl, rmtree, run, tempdir)

TOKEN = "glpat-UNIQUE-preview-token-71c0e9"            # the git server's personal access token
WRONG_TOKEN = "glpat-UNIQUE-wrong-preview-token-0b5d"
SECRET = "UNIQUE-preview-webhook-secret-5e2f"
NODE_IMAGE = "registry.example.com/base/node:20.18-bookworm-slim"  # build.wizard_images.node
EXPRESS = os.path.join(FIXTURES, "wizard", "node-yarn-express")


def fixture_files(folder):
    files = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            with open(path) as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


def golden(name):
    with open(os.path.join(EXPRESS, name)) as f:
        return f.read()


@pytest.fixture
def env():
    root = tempdir()
    redis_server = RedisServer(root).start()
    # A Node.js/Express service on the authenticated smart-HTTP server...
    shop = GitRepo(root, "shop")
    shop_sha = shop.commit(fixture_files(os.path.join(EXPRESS, "repo")), "express app")
    run(["git", "-C", shop.work, "tag", "v1.0"])
    run(["git", "-C", shop.work, "push", "-q", "origin", "v1.0"])
    # ...and a service with its own root Dockerfile on git daemon.
    web = GitRepo(root, "web")
    web_sha = web.commit({"Dockerfile": f"FROM busybox\nARG HOOK={SECRET}\nRUN echo web\n",
                          "README.md": "web\n"}, "root Dockerfile")
    run(["git", "-C", web.work, "push", "-q", "origin", "main:feature/login"])
    http = GitHttpServer(root, os.path.dirname(shop.bare), TOKEN).start()
    daemon = GitDaemon(os.path.dirname(shop.bare)).start()
    services = [
        {"name": "shop", "git_url": http.url("shop"), "branch": "main", "token": TOKEN,
         "git_username": "user", "webhook_secret": SECRET, "dockerfile": {"mode": "wizard"}},
        {"name": "web", "git_url": daemon.url("web"), "branch": "main",
         "webhook_secret": SECRET, "dockerfile": {"mode": "auto"}},
        {"name": "clone-only", "git_url": daemon.url("web"), "branch": "main",
         "webhook_secret": SECRET, "dockerfile": {"mode": "none"}},
    ]
    kiwi = Kiwi(root, redis_server.url, services, workers=0,
                extra={"build": {"wizard_images": {"node": NODE_IMAGE}}}).start()
    state = {"kiwi": kiwi, "admin": kiwi.admin_token(), "shop": shop, "shop_sha": shop_sha,
             "web": web, "web_sha": web_sha, "http": http, "daemon": daemon}
    yield state
    kiwi.stop()
    daemon.stop()
    http.stop()
    redis_server.stop()
    rmtree(root)


def preview(env, service, token=None, **params):
    query = "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote) if params else ""
    return env["kiwi"].api("GET", f"/services/{service}/dockerfile/preview{query}",
                           token=token or env["admin"], timeout=30)


def test_wizard_preview_of_a_node_express_repository_over_smart_http(env):
    status, body = preview(env, "shop")
    assert status == 200, body
    assert body["service"] == "shop"
    assert body["ref"] == "refs/heads/main" and body["sha"] == env["shop_sha"]
    assert body["mode"] == "wizard" and body["fetched"] is True
    assert body["dockerfile_path"] == ".kiwi/Dockerfile" and body["context"] == "."
    # The golden file of the wizard's unit tests, with the configured base image.
    assert body["dockerfile"] == golden("Dockerfile").replace("node:20.18-bookworm-slim",
                                                              NODE_IMAGE)
    assert f"FROM {NODE_IMAGE} AS deps" in body["dockerfile"]
    assert body["dockerignore"] == golden(".dockerignore")
    assert body["repository_dockerignore"] is False
    assert body["generated_by"] == "node/express via yarn"
    assert body["detected"] == {"language": "node", "framework": "express",
                                "package_manager": "yarn"}
    # kiwid's own bare mirror, not the worker's.
    mirror = os.path.join(env["kiwi"].data_dir, "preview-mirrors", "shop.git")
    assert os.path.isfile(os.path.join(mirror, "HEAD"))
    assert not os.path.exists(os.path.join(env["kiwi"].data_dir, "mirrors"))

    # A push is seen by the next preview (fetched incrementally into the same mirror).
    newer = env["shop"].commit({"src/extra.js": "module.exports = 1;\n"}, "more")
    status, body = preview(env, "shop")
    assert status == 200 and body["sha"] == newer, body
    # A commit the mirror already has is previewed without a fetch; a tag too.
    status, body = preview(env, "shop", ref=env["shop_sha"])
    assert status == 200 and body["fetched"] is False and body["sha"] == env["shop_sha"], body
    status, body = preview(env, "shop", ref="v1.0")
    assert status == 200 and body["ref"] == "refs/tags/v1.0", body
    assert body["sha"] == env["shop_sha"]

    # A viewer may preview.
    status, body = env["kiwi"].api("POST", "/tokens", {"name": "viewer-bot", "role": "viewer"},
                                   env["admin"])
    assert status == 201, body
    status, body = preview(env, "shop", token=body["token"])
    assert status == 200 and body["mode"] == "wizard", body


def test_language_and_framework_override_the_saved_settings(env):
    status, body = preview(env, "shop", framework="plain")
    assert status == 200, body
    assert body["generated_by"] == "node/plain via yarn"
    assert body["detected"]["framework"] == "plain"
    # A service in mode auto previews the wizard once a choice is given.
    status, body = preview(env, "web", language="node")
    assert status == 422, body
    assert body["kind"] == "dockerfile" and body["field"] == "dockerfile.language", body
    assert "has no package.json" in body["error"] and body["sha"] == env["web_sha"], body
    # Choices the repository contradicts name the setting; unknown ones are refused at once.
    status, body = preview(env, "shop", language="node", framework="nextjs")
    assert status == 422 and body["field"] == "dockerfile.framework", body
    assert body["error"].startswith("Dockerfile wizard (dockerfile.framework): is nextjs but "
                                    'package.json does not depend on "next"'), body
    status, body = preview(env, "shop", language="cobol")
    assert status == 422 and body["field"] == "language", body
    status, body = preview(env, "shop", mode="docker")
    assert status == 422 and body["field"] == "mode", body
    # The wizard finds nothing to build: it says what to set.
    status, body = preview(env, "web", mode="wizard")
    assert status == 422 and body["kind"] == "dockerfile" and body["field"] == "dockerfile", body
    assert "Set dockerfile.language, or commit a Dockerfile" in body["error"], body


def test_auto_mode_shows_the_root_dockerfile_with_secrets_masked(env):
    status, body = preview(env, "web")
    assert status == 200, body
    assert body["mode"] == "auto" and body["sha"] == env["web_sha"]
    assert body["dockerfile_path"] == "Dockerfile" and body["context"] == "."
    assert body["dockerfile"] == "FROM busybox\nARG HOOK=***\nRUN echo web\n"
    assert "dockerignore" not in body and "detected" not in body
    # A branch with a slash, percent-encoded in the query.
    status, body = preview(env, "web", ref="feature/login")
    assert status == 200 and body["ref"] == "refs/heads/feature/login", body
    # ?mode=auto on the wizard service shows that it has no root Dockerfile.
    status, body = preview(env, "shop", mode="auto")
    assert status == 422 and body["field"] == "dockerfile", body
    assert body["error"].startswith("Dockerfile not found or not usable (dockerfile): no "
                                    "Dockerfile in the repository"), body
    # A clone-only service builds no image: say so, and how to preview anyway.
    status, body = preview(env, "clone-only")
    assert status == 422 and body["field"] == "dockerfile" and "mode=auto" in body["error"], body
    status, body = preview(env, "clone-only", mode="auto")
    assert status == 200 and body["dockerfile_path"] == "Dockerfile", body


def test_unknown_ref_and_unknown_service(env):
    status, body = preview(env, "web", ref="release/9.9")
    assert status == 404, body
    assert body == {"error": 'ref: the repository has no branch or tag "release/9.9"; its '
                             "branches: feature/login, main",
                    "kind": "ref_not_found", "field": "ref", "ref": "release/9.9"}
    status, body = preview(env, "web", ref="1" * 40)
    assert status == 404 and body["error"].startswith("ref: commit " + "1" * 40), body
    status, body = preview(env, "ghost")
    assert status == 404 and body == {"error": 'no service named "ghost"'}, body


def test_a_wrong_token_says_authentication_failed_and_shows_no_secret(env):
    kiwi = env["kiwi"]
    status, body = kiwi.api("POST", "/services", {
        "name": "private", "git_url": env["http"].url("shop"), "branch": "main",
        "token": WRONG_TOKEN, "git_username": "user", "dockerfile": {"mode": "wizard"}},
        env["admin"])
    assert status == 201, body
    status, body = preview(env, "private")
    assert status == 422, body
    assert body["kind"] == "authentication", body
    assert body["error"] == ("Authentication failed: check that the token hasn't expired and "
                             "has read_repository permission"), body
    # Neither token nor the webhook secret appears in any answer or log line.
    everything = json.dumps(body) + kiwi.all_output()
    for secret in (TOKEN, WRONG_TOKEN, SECRET):
        assert secret not in everything


def test_kiwictl_service_dockerfile_preview(env):
    url = f"http://127.0.0.1:{env['kiwi'].port}"
    res = kiwictl("service", "dockerfile-preview", "shop", "--framework", "plain", url=url,
                  token=env["admin"])
    assert res.returncode == 0, res
    out = res.stdout
    assert re.search(r"^mode:\s+wizard$", out, re.M), out
    assert re.search(r"^commit:\s+" + env["shop_sha"] + "$", out, re.M), out
    assert re.search(r"^detected:\s+node/plain via yarn$", out, re.M), out
    assert "--- .kiwi/Dockerfile ---\n# Generated by Kiwi's Dockerfile wizard" in out, out
    assert f"FROM {NODE_IMAGE} AS deps" in out
    assert "--- .dockerignore (generated) ---\n" in out
    res = kiwictl("-o", "json", "service", "dockerfile-preview", "web", "--ref", "feature/login",
                  url=url, token=env["admin"])
    assert res.returncode == 0, res
    assert json.loads(res.stdout)["ref"] == "refs/heads/feature/login"
    res = kiwictl("service", "dockerfile-preview", "web", "--ref", "nope", url=url,
                  token=env["admin"])
    assert res.returncode == 1, res
    assert 'no branch or tag "nope"' in res.stderr and "(field: ref)" in res.stderr, res
    for secret in (TOKEN, SECRET, env["admin"]):
        assert secret not in res.stdout + res.stderr


def test_deleting_a_service_removes_its_preview_mirror(env):
    status, body = env["kiwi"].api("POST", "/services", {
        "name": "short-lived", "git_url": env["daemon"].url("web"), "branch": "main",
        "dockerfile": {"mode": "auto"}}, env["admin"])
    assert status == 201, body
    status, body = preview(env, "short-lived")
    assert status == 200 and body["sha"] == env["web_sha"], body
    mirror = os.path.join(env["kiwi"].data_dir, "preview-mirrors", "short-lived.git")
    assert os.path.isfile(os.path.join(mirror, "HEAD"))
    status, body = env["kiwi"].api("DELETE", "/services/short-lived", token=env["admin"])
    assert status == 200, body
    assert not os.path.exists(mirror)
    assert os.path.isdir(os.path.join(env["kiwi"].data_dir, "preview-mirrors"))

"""The scan stage end to end, with real parts except the scanner: a signed push to a real
kiwid, a real kiwi-worker building with real buildah from a busybox base made here, the image
written to an OCI archive and scanned, then pushed to a real docker-registry with htpasswd
auth. No scanner with a vulnerability database can run here, so the scanner is
tests/support/trivy_standin: it takes Trivy's command line and replays a real recorded Trivy
report (tests/fixtures/trivy) chosen by the image's label `kiwi.test.trivy-report`, or
crashes, hangs or prints garbage when the label says so."""

import json
import os
import shutil
import subprocess
import tempfile
import urllib.error

import pytest

from kiwi_harness import (SOURCE_DIR, EventListener, GitRepo, Kiwi, RedisServer, github_push_payload,
                          kiwictl, rmtree, tempdir)
from test_build_flow import BASE, REG_PASSWORD, REG_USER, Registry, make_busybox_base

SECRET = "UNIQUE-scan-webhook-secret-4b2e"
STANDIN = os.path.join(SOURCE_DIR, "tests", "support", "trivy_standin")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "trivy")

pytestmark = pytest.mark.skipif(shutil.which("buildah") is None or
                                shutil.which("docker-registry") is None,
                                reason="buildah and docker-registry are installed by "
                                       "scripts/install-deps.sh")

# service name -> (the stand-in's choice from the image label, the service's scan settings)
SERVICES = {
    "clean": (None, {}),
    "vuln": ("debian-buster", {}),
    "ignored": ("debian-buster", {"ignore": [{"id": "CVE-2019-18224", "expires": "2099-12-31",
                                              "reason": "waiting for the base image"}]}),
    "expired": ("debian-buster", {"ignore": [{"id": "CVE-2019-18224", "expires": "2020-01-31"}]}),
    "strict": ("alpine-distroless", {"fail_on": "MEDIUM"}),
    "lenient": ("alpine-distroless", {}),
    "crash": ("crash", {}),
    "hang": ("hang", {}),
    "garbage": ("garbage", {}),
    "off": ("debian-buster", {"enabled": False}),
}


@pytest.fixture(scope="module")
def run():
    """Every service pushed once; the builds' final events by service."""
    root = tempdir()
    redis_server = RedisServer(root).start()
    registry = Registry(root)
    data_dir = os.path.join(root, "data")
    make_busybox_base(os.path.join(data_dir, "buildah"),
                      tempfile.mkdtemp(prefix="kiwi-base-", dir=root))
    services, repos = [], {}
    for name, (choice, scan) in SERVICES.items():
        repo = GitRepo(root, name)
        first = repo.commit({"README.md": name + "\n"}, "first")
        repos[name] = (repo, first)
        services.append({"name": name, "git_url": repo.file_url, "branch": "main",
                         "webhook_secret": SECRET, "dockerfile": {"mode": "auto"},
                         "registry": "local-reg", "image": "team/" + name,
                         "tag_rule": "${BRANCH}-${SHORT_SHA}", "scan": scan})
    reg = {"name": "local-reg", "url": registry.url, "username": REG_USER,
           "password": REG_PASSWORD, "insecure": True}
    kiwi = Kiwi(root, redis_server.url, services, workers=1,
                worker_extra={"build_timeout_s": 300, "concurrency": 3},
                extra={"registries": [reg], "queue": {"max_attempts": 1},
                       "scan": {"trivy_path": STANDIN, "timeout_s": 10}}).start()
    events = EventListener(redis_server.client(), "kiwi:events")
    state = {"kiwi": kiwi, "registry": registry, "events": events, "builds": {},
             "token": kiwi.admin_token()}
    try:
        for name, (choice, _) in SERVICES.items():
            repo, first = repos[name]
            label = f"LABEL kiwi.test.trivy-report={choice}\n" if choice else ""
            sha = repo.commit({"Dockerfile": f"FROM {BASE}\n{label}CMD [\"true\"]\n"}, "image")
            status, _, body = kiwi.github_push(name, SECRET,
                                               github_push_payload("main", first, sha, "image"))
            assert status == 202, body
            state["builds"][name] = {"id": body["build_id"], "tag": "main-" + sha[:7]}
        for name, b in state["builds"].items():
            b["final"] = events.until(
                lambda ev, i=b["id"]: ev["build_id"] == i and ev["type"] in (
                    "build.succeeded", "build.failed", "build.cancelled"), timeout=400)
            b["scan_event"] = next((e for e in events.events if e["build_id"] == b["id"] and
                                    e["stage"] == "scan" and e["type"] in
                                    ("stage.succeeded", "stage.failed")), None)
        yield state
    finally:
        events.close()
        kiwi.stop()
        registry.stop()
        redis_server.stop()
        for args in (["rm", "--all"], ["rmi", "--all", "--force"]):
            subprocess.run(["buildah", "--root", os.path.join(data_dir, "buildah", "storage"),
                            "--runroot", os.path.join(data_dir, "buildah", "run"),
                            "--storage-driver", "overlay", *args], capture_output=True)
        rmtree(root)


def tags(registry, name):
    """The repository's tags as the registry lists them ([] when it has none)."""
    try:
        _, _, body = registry.get(f"/v2/team/{name}/tags/list")
    except urllib.error.HTTPError as e:
        assert e.code == 404, e
        return []
    return json.loads(body).get("tags") or []


def api(run, path):
    return run["kiwi"].api("GET", path, token=run["token"])


def test_a_clean_image_is_scanned_then_pushed(run):
    b = run["builds"]["clean"]
    assert b["final"]["type"] == "build.succeeded", b["final"]
    assert tags(run["registry"], "clean") == [b["tag"]]
    status, build = api(run, f"/builds/{b['id']}")
    assert status == 200 and build["digest"].startswith("sha256:")
    assert build["stages"]["scan"]["status"] == "succeeded"
    assert build["stages"]["push"]["status"] == "succeeded"
    # The scan ended before the push started.
    assert int(build["stages"]["scan"]["finished_at"]) <= int(build["stages"]["push"]["started_at"])
    assert build["scan"]["status"] == "passed" and build["scan"]["summary"]["total"] == 0
    assert b["scan_event"]["type"] == "stage.succeeded"
    assert "no findings" in b["scan_event"]["message"]
    status, scan = api(run, f"/builds/{b['id']}/scan")
    assert status == 200 and scan["status"] == "passed" and scan["findings"] == []
    assert scan["report_stored"] is True


def test_a_critical_finding_fails_the_gate_and_nothing_is_pushed(run):
    b = run["builds"]["vuln"]
    final = b["final"]
    assert final["type"] == "build.failed"
    for part in ("CVE-2019-18224", "libidn2-0", "2.0.5-1", "fixed in 2.0.5-1+deb10u1",
                 "at or above CRITICAL"):
        assert part in final["message"], final["message"]
    assert "bash" not in final["message"]  # LOW is below the bar
    assert final["message"].endswith("found: 1 CRITICAL (1 fixable), 1 LOW")
    # Never pushed: the registry has no such repository or tag.
    assert b["tag"] not in tags(run["registry"], "vuln")
    status, build = api(run, f"/builds/{b['id']}")
    assert "digest" not in build and "push" not in build["stages"]
    assert build["stages"]["scan"]["status"] == "failed"
    assert build["status"] == "failed"
    assert build["scan"]["gate"]["failing"][0]["id"] == "CVE-2019-18224"
    assert b["scan_event"]["type"] == "stage.failed"
    assert "CVE-2019-18224" in b["scan_event"]["message"]
    # The API: summary, verdict, every finding worst first, and the full report as recorded.
    status, scan = api(run, f"/builds/{b['id']}/scan")
    assert status == 200 and scan["status"] == "failed"
    assert scan["summary"]["counts"]["CRITICAL"] == 1 and scan["summary"]["counts"]["LOW"] == 1
    assert scan["summary"]["fixable"] == 1
    assert [f["id"] for f in scan["findings"]] == ["CVE-2019-18224", "CVE-2019-18276"]
    assert scan["findings"][0]["installed"] == "2.0.5-1"
    assert scan["findings"][0]["fixed"] == "2.0.5-1+deb10u1"
    status, hdrs, raw = run["kiwi"].request(
        "GET", f"/api/v1/builds/{b['id']}/scan/report",
        headers={"Authorization": "Bearer " + run["token"]})
    assert status == 200 and hdrs["Content-Type"].startswith("application/json")
    with open(os.path.join(FIXTURES, "debian-buster.json"), "rb") as f:
        assert raw == f.read()
    # kiwictl build scan: the verdict and one row per finding.
    res = kiwictl("build", "scan", b["id"], url=f"http://127.0.0.1:{run['kiwi'].port}",
                  token=run["token"])
    assert res.returncode == 0, res
    assert "scan: failed" in res.stdout
    rows = [l.split() for l in res.stdout.splitlines() if l.startswith(("CRITICAL", "LOW"))]
    assert rows[0] == ["CRITICAL", "CVE-2019-18224", "libidn2-0", "2.0.5-1", "2.0.5-1+deb10u1"]


def test_the_ignore_list_and_fail_on_change_the_verdict(run):
    builds = run["builds"]
    # The same report, its CRITICAL on the ignore list until 2099: passes and is pushed.
    assert builds["ignored"]["final"]["type"] == "build.succeeded", builds["ignored"]["final"]
    assert tags(run["registry"], "ignored") == [builds["ignored"]["tag"]]
    status, scan = api(run, f"/builds/{builds['ignored']['id']}/scan")
    assert scan["gate"]["ignored"] == ["CVE-2019-18224"]
    # An ignore entry past its date no longer holds, and the message says so.
    expired = builds["expired"]["final"]
    assert expired["type"] == "build.failed"
    assert "CVE-2019-18224 (expired 2020-01-31)" in expired["message"], expired["message"]
    assert tags(run["registry"], "expired") == []
    # A MEDIUM passes the default gate (CRITICAL) and fails fail_on MEDIUM.
    assert builds["lenient"]["final"]["type"] == "build.succeeded"
    strict = builds["strict"]["final"]
    assert strict["type"] == "build.failed"
    assert "CVE-2022-24765 in git 2.35.1-r2 (fixed in 2.35.2-r0)" in strict["message"], strict
    assert "at or above MEDIUM" in strict["message"]
    assert tags(run["registry"], "strict") == []


@pytest.mark.parametrize("name,words", [
    ("crash", ["the scanner ended without a report (killed by signal", "panic: runtime error"]),
    ("hang", ["did not finish within scan.timeout_s (10 s)"]),
    ("garbage", ["not a Trivy report", "not JSON"]),
])
def test_a_broken_scanner_fails_the_build_never_a_pass(run, name, words):
    b = run["builds"][name]
    assert b["final"]["type"] == "build.failed", b["final"]
    for w in words:
        assert w in b["final"]["message"], b["final"]["message"]
    assert tags(run["registry"], name) == []
    status, scan = api(run, f"/builds/{b['id']}/scan")
    assert status == 200 and scan["status"] == "error" and scan["report_stored"] is False
    status, body = api(run, f"/builds/{b['id']}/scan/report")
    assert status == 404 and "no stored scan report" in body["error"]


def test_a_service_that_turned_scans_off_is_pushed_unscanned_and_says_so(run):
    b = run["builds"]["off"]
    assert b["final"]["type"] == "build.succeeded", b["final"]
    assert tags(run["registry"], "off") == [b["tag"]]
    assert b["scan_event"]["message"] == "scan skipped: the service's scan.enabled is false"
    status, body = api(run, f"/builds/{b['id']}/scan")
    assert status == 404
    assert body["error"] == (f"build {b['id']} has no scan: scan skipped: the service's "
                             "scan.enabled is false")
    res = kiwictl("build", "scan", b["id"], url=f"http://127.0.0.1:{run['kiwi'].port}",
                  token=run["token"])
    assert res.returncode != 0 and "scan.enabled is false" in res.stderr, res
    # Nothing the worker logged or published carries the registry password.
    everything = json.dumps(run["events"].events) + run["kiwi"].all_output()
    assert REG_PASSWORD not in everything

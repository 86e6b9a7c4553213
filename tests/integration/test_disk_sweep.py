"""The disk sweep with real parts: a real kiwi-worker building with real buildah (overlay) is
SIGKILLed in the middle of a RUN step; its leftovers (buildah's working containers, their
overlay mounts, the orphaned buildah process, the workspace) are shown to exist, and a worker
started afterwards removes them all, so that the data directory can be removed; another
worker's build in progress on the same storage is left alone; the mirror of a service deleted
through the API goes (docs/build-backends.md, "Disk use and the sweep")."""

import glob
import json
import os
import random
import shutil
import signal
import subprocess

import pytest

from kiwi_harness import (Kiwi, RedisServer, GitRepo, github_push_payload, rmtree, tempdir,
                          wait_until)
from test_build_flow import BASE, buildah, make_busybox_base

SECRET = "UNIQUE-sweep-webhook-secret-41c2"

needs_buildah = pytest.mark.skipif(shutil.which("buildah") is None,
                                   reason="buildah is installed by scripts/install-deps.sh")


@pytest.fixture
def env():
    root = tempdir()
    redis_server = RedisServer(root).start()
    data_dir = os.path.join(root, "data")
    state = {"root": root, "redis": redis_server, "data_dir": data_dir, "kiwi": None,
             "storage": os.path.join(data_dir, "buildah")}
    yield state
    if state["kiwi"]:
        state["kiwi"].stop()
    for seconds in state.get("sleeps", []):  # a step left running by a failed test
        for pid in sleepers(seconds):
            os.kill(pid, signal.SIGKILL)
    redis_server.stop()
    if os.path.isdir(state["storage"]):
        for args in (["rm", "--all"], ["rmi", "--all", "--force"]):
            subprocess.run(["buildah", "--root", os.path.join(state["storage"], "storage"),
                            "--runroot", os.path.join(state["storage"], "run"),
                            "--storage-driver", "overlay", *args], capture_output=True)
    rmtree(root)


def start_kiwi(env, workers, concurrency=1):
    """Builds into local storage (no registry); a dead worker's build is failed at its
    reclaim (max_attempts 1, a 1 s lease) and the sweep runs every second."""
    work = os.path.join(env["root"], "base")
    os.makedirs(work)
    make_busybox_base(env["storage"], work)
    env["repo"] = GitRepo(env["root"], "shop")
    env["first"] = env["repo"].commit({"README.md": "shop\n"}, "first")
    service = {"name": "shop", "git_url": env["repo"].file_url, "branch": "main",
               "webhook_secret": SECRET, "dockerfile": {"mode": "auto"},
               "cancel_superseded": False, "max_concurrent_builds": 2}  # two builds at once
    env["kiwi"] = Kiwi(env["root"], env["redis"].url, [service], workers=workers,
                       worker_extra={"concurrency": concurrency, "keep_workspaces": False,
                                     "sweep_interval_s": 1, "build_timeout_s": 600},
                       extra={"queue": {"visibility_timeout_ms": 1000, "max_attempts": 1},
                              "build": {"network": "none"}}).start()
    env["kiwi"].redis = env["redis"].client()
    return env["kiwi"]


def push_sleeper(env):
    """A build whose last RUN step sleeps for a number of seconds unique to this run, so that
    its process can be found; returns the build id and that number once the step runs."""
    seconds = random.randrange(100_000, 999_999)
    env.setdefault("sleeps", []).append(seconds)
    dockerfile = f"FROM {BASE}\nRUN echo layer > /layer\nRUN sleep {seconds}\n"
    sha = env["repo"].commit({"Dockerfile": dockerfile}, f"sleep {seconds}")
    status, _, body = env["kiwi"].github_push(
        "shop", SECRET, github_push_payload("main", env["first"], sha, "sleep"))
    assert status == 202, body
    wait_until(lambda: sleepers(seconds), timeout=180, what=f"RUN sleep {seconds} running")
    return body["build_id"], seconds


def sleepers(seconds):
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                if f.read() == f"sleep\0{seconds}\0".encode():
                    found.append(int(path.split("/")[2]))
        except OSError:
            pass
    return found


def containers_of(env, build_id):
    """Working containers whose buildah.json records the build id (as the sweep reads them)."""
    listed = json.loads(buildah(env["storage"], "containers", "--all", "--json") or "null") or []
    found = []
    for c in listed:
        path = os.path.join(env["storage"], "storage", "overlay-containers", c["id"], "userdata",
                            "buildah.json")
        try:
            with open(path) as f:
                args = json.load(f).get("Args") or {}
        except OSError:  # removed meanwhile
            continue
        if args.get("KIWI_BUILD_ID") == build_id:
            found.append(c["id"])
    return found


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path + "/")]


def merged_mounts(env):
    return [m for m in mounts_under(env["data_dir"]) if m.endswith("/merged")]


def workspace(env, build_id):
    return os.path.join(env["data_dir"], "workspaces", build_id)


def worker_of(kiwi, build_id):
    name = kiwi.redis.hget(f"kiwi:{{q}}:build:{build_id}", "worker")
    found = [w for w in kiwi.workers if w.running() and w.consumer_name() == name]
    assert len(found) == 1, (name, [w.consumer_name() for w in kiwi.workers if w.running()],
                             kiwi.redis.hgetall(f"kiwi:{{q}}:build:{build_id}"))
    return found[0]


@needs_buildah
def test_a_worker_killed_mid_build_leaves_nothing_after_the_sweep(env):
    kiwi = start_kiwi(env, workers=1)
    build_id, sleep = push_sleeper(env)
    kiwi.workers[0].kill()  # SIGKILL in the middle of the `RUN sleep`

    # What the killed worker left: its build's working containers with their overlay mounts,
    # the orphaned buildah still running the step, and the workspace.
    assert containers_of(env, build_id)
    assert merged_mounts(env)
    assert sleepers(sleep)
    assert os.path.isdir(workspace(env, build_id))

    kiwi.add_worker()
    wait_until(lambda: not containers_of(env, build_id) and not mounts_under(env["data_dir"])
               and not os.path.exists(workspace(env, build_id)) and not sleepers(sleep)
               and "workspace(s)" in kiwi.workers[1].output(),
               timeout=120, what="the sweep removing the killed build's leftovers")
    log = kiwi.workers[1].output()
    assert "disk sweep: " in log and "orphaned build process(es) killed" in log, log
    assert "build container(s)" in log and "warning kiwi-worker: disk sweep" not in log, log
    # The lease ran out on the last attempt: the build failed (dead letter), it never runs again.
    assert env["redis"].client().hget(f"kiwi:{{q}}:build:{build_id}", "status") == "failed"

    kiwi.stop()
    env["kiwi"] = None
    assert mounts_under(env["root"]) == []
    shutil.rmtree(env["data_dir"])  # nothing busy or mounted is left in it
    assert not os.path.exists(env["data_dir"])


@needs_buildah
def test_a_sweep_leaves_another_workers_build_in_progress_alone(env):
    kiwi = start_kiwi(env, workers=2)
    dead_build, dead_sleep = push_sleeper(env)
    live_build, live_sleep = push_sleeper(env)  # the other worker's only slot
    dead_worker = worker_of(kiwi, dead_build)
    live_worker = worker_of(kiwi, live_build)
    assert dead_worker is not live_worker
    live_containers = containers_of(env, live_build)
    assert live_containers
    dead_worker.kill()

    # A new worker reclaims (and fails) the dead build and sweeps while the live one runs.
    kiwi.add_worker()
    wait_until(lambda: not containers_of(env, dead_build) and not sleepers(dead_sleep)
               and not os.path.exists(workspace(env, dead_build)),
               timeout=120, what="the dead build's leftovers removed")
    assert containers_of(env, live_build) == live_containers
    assert sleepers(live_sleep) and merged_mounts(env)
    assert os.path.isdir(workspace(env, live_build))
    r = env["redis"].client()
    assert r.hget(f"kiwi:{{q}}:build:{live_build}", "status") == "running"
    assert r.hget(f"kiwi:{{q}}:build:{live_build}", "worker") == live_worker.consumer_name()
    # Sweeps went on (every second) while it ran; it still ends the usual way.
    kiwi.queue_tool("cancel", live_build)
    wait_until(lambda: r.hget(f"kiwi:{{q}}:build:{live_build}", "status") == "cancelled",
               timeout=60, what="the live build cancelled")
    wait_until(lambda: not containers_of(env, live_build) and not sleepers(live_sleep), timeout=60,
               what="buildah's own clean-up of the cancelled build")


def test_the_mirror_of_a_deleted_service_goes(env):
    repo = GitRepo(env["root"], "shop")
    repo.commit({"README.md": "shop\n"}, "first")
    configured = {"name": "shop", "git_url": repo.file_url, "branch": "main",
                  "webhook_secret": SECRET}
    kiwi = env["kiwi"] = Kiwi(env["root"], env["redis"].url, [configured],
                              worker_extra={"sweep_interval_s": 1}).start()
    admin = kiwi.admin_token()
    status, body = kiwi.api("POST", "/services", {"name": "gone", "git_url": repo.file_url,
                                                  "branch": "main",
                                                  "dockerfile": {"mode": "none"}}, admin)
    assert status == 201, body
    r = env["redis"].client()
    for service in ("gone", "shop"):
        status, build = kiwi.api("POST", f"/services/{service}/builds", {"branch": "main"}, admin)
        assert status == 202, build
        wait_until(lambda: r.hget(f"kiwi:{{q}}:build:{build['build_id']}", "status")
                   == "succeeded", timeout=60, what=f"the clone of {service}")
    mirrors = os.path.join(env["data_dir"], "mirrors")
    assert os.path.isdir(os.path.join(mirrors, "gone.git"))

    status, _ = kiwi.api("DELETE", "/services/gone", token=admin)
    assert status in (200, 204)
    wait_until(lambda: not os.path.exists(os.path.join(mirrors, "gone.git")), timeout=30,
               what="the deleted service's mirror removed")
    assert os.path.isdir(os.path.join(mirrors, "shop.git"))  # a configured service's stays
    assert "mirror(s) of deleted services" in kiwi.workers[0].output()

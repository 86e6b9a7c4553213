"""Jobs, Secrets, pods and pod logs for Kiwi's Kaniko backend, on the stub API server
(k8s_stub.K8sStub). No Kubernetes API server can run on our machines; this stand-in keeps just
enough state to play a build the way a cluster does, and serves recorded real objects
(tests/fixtures/k8s/, sources in tests/fixtures/README.md) with the build's names put in:

- POST .../secrets and .../jobs store the object (409 AlreadyExists, recorded, when the name
  is taken) and answer 201; the Job's answer is the recorded job-created-201 object with the
  request's metadata and spec.
- GET .../pods?labelSelector=job-name=NAME: a PodList made from the recorded failed-Job pod
  list, its status replaced by the scenario's recorded status for the moment asked:
  running (pod-running-ready), terminated (the recorded terminated state, exit code and
  termination message set), ImagePullBackOff, Unschedulable, OOMKilled (recorded verbatim).
- GET .../pods/POD/log?follow=true&timestamps=true[&sinceTime=]: the scenario's recorded
  Kaniko log lines, each prefixed with its RFC 3339 timestamp, streamed as they "happen"; the
  stream ends when the container has terminated.
- GET/DELETE .../jobs/NAME, DELETE .../secrets/NAME: the recorded Job status for the moment,
  the recorded Success Status; 404 (recorded NotFound) once deleted.
- POST with dryRun=All (a runtime test) answers as a create would and stores nothing;
  `denied` collections answer the recorded 403.

Scenarios (by name, for every Job created, or per Job through `scenario_for`):

    success      runs the success log, exits 0, termination message = DIGEST
    run-fails    runs the failing-RUN log, exits 1 (reason Error)
    oom          runs a short log, then the recorded OOMKilled status
    image-pull   the recorded ImagePullBackOff status forever
    unschedulable the recorded Unschedulable (Insufficient cpu, memory) status forever
    slow         runs forever, one log line every LINE_INTERVAL seconds (cancel, deadline)
"""

import copy
import json
import os
import threading
import time
from datetime import datetime, timezone

from k8s_stub import FIXTURES, Response

DIGEST = "sha256:b5429ceebb9d2345070526b8ce0ee897e3934a341f4fd18703266784deb877c1"
LINE_INTERVAL = 0.05
NS = r"/namespaces/(?P<ns>[^/]+)"


def _load(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def _lines(name):
    with open(os.path.join(FIXTURES, "kaniko", name)) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


SCENARIOS = {
    "success": {"log": "log-success.txt", "end": "succeeded"},
    "run-fails": {"log": "log-run-failed.txt", "end": "failed"},
    "oom": {"log": "log-pull-slow.txt", "end": "oom"},
    "image-pull": {"log": None, "end": "image-pull"},
    "unschedulable": {"log": None, "end": "unschedulable"},
    "slow": {"log": "log-pull-slow.txt", "end": None},
}


def _rfc3339(t):
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"


class _Build:
    def __init__(self, name, ns, job, scenario):
        self.name, self.ns, self.job, self.scenario = name, ns, job, scenario
        self.created = time.time()
        self.deleted = False
        spec = SCENARIOS[scenario]
        self.lines = _lines(spec["log"]) if spec["log"] else []
        self.pod = name + "-x7k2p"

    def line_at(self, i):
        """(time, text) of log line i; the slow scenario repeats its lines forever."""
        if self.scenario == "slow":
            return self.created + 0.1 + i * LINE_INTERVAL, self.lines[i % len(self.lines)]
        return self.created + 0.1 + i * LINE_INTERVAL, self.lines[i]

    def ends_at(self):
        end = SCENARIOS[self.scenario]["end"]
        if end in (None, "image-pull", "unschedulable"):
            return None
        return self.created + 0.1 + len(self.lines) * LINE_INTERVAL + 0.05

    def terminated(self, now):
        t = self.ends_at()
        return t is not None and now >= t


class KanikoCluster:
    def __init__(self, stub, scenario="success"):
        self.stub = stub
        self.scenario = scenario
        self.scenario_for = {}   # job name → scenario, ahead of `scenario`
        self.builds = {}         # job name → _Build
        self.secrets = {}        # name → the created Secret (as sent)
        self.deleted_secrets = set()
        # True: the next build finds a Secret and a running Job of its own name, as an
        # attempt of the same build on a worker that died would have left them.
        self.leftover_next = False
        # Collections ("secrets", "jobs", "pods") the service account may not create (or list,
        # for pods): the recorded 403 Status.
        self.denied = set()
        self.lock = threading.Lock()
        b = r"(?P<name>[^/]+)"
        stub.route("POST", r"/api/v1" + NS + r"/secrets", self._create_secret)
        stub.route("DELETE", r"/api/v1" + NS + r"/secrets/" + b, self._delete_secret)
        stub.route("GET", r"/api/v1" + NS + r"/secrets/" + b, self._get_secret)
        stub.route("PATCH", r"/api/v1" + NS + r"/secrets/" + b, self._patch_secret)
        stub.route("POST", r"/apis/batch/v1" + NS + r"/jobs", self._create_job)
        stub.route("GET", r"/apis/batch/v1" + NS + r"/jobs/" + b, self._get_job)
        stub.route("DELETE", r"/apis/batch/v1" + NS + r"/jobs/" + b, self._delete_job)
        stub.route("GET", r"/api/v1" + NS + r"/pods", self._list_pods)
        stub.route("GET", r"/api/v1" + NS + r"/pods/(?P<pod>[^/]+)/log", self._log)

    # What a test asserts on.
    def live_jobs(self):
        with self.lock:
            return [n for n, b in self.builds.items() if not b.deleted]

    def live_secrets(self):
        with self.lock:
            return [n for n in self.secrets if n not in self.deleted_secrets]

    def job(self, name):
        return self.builds[name].job

    # Secrets.
    def _refused_or_dry(self, req, collection, created):
        """The 403 for a denied collection; for dryRun=All (what a runtime test sends) the
        answer a create would get, with nothing stored; else None."""
        if collection in self.denied:
            return Response.fixture("status/status-403-forbidden.json")
        if (req.query.get("dryRun") or [""])[0] == "All":
            return Response(201, created)
        return None

    def _create_secret(self, req):
        body = req.json()
        name = body["metadata"]["name"]
        early = self._refused_or_dry(req, "secrets", dict(body, stringData=None))
        if early:
            return early
        with self.lock:
            if self.leftover_next and name not in self.secrets:
                self.leftover_next = False
                self.secrets[name] = body
                self.builds[name] = _Build(name, req.params["ns"], {}, "slow")
            if name in self.secrets and name not in self.deleted_secrets:
                return Response.fixture("status/status-409-alreadyexists.json")
            self.secrets[name] = body
            self.deleted_secrets.discard(name)
        created = copy.deepcopy(body)
        created["metadata"].update({"namespace": req.params["ns"],
                                    "uid": "0f5c2b1e-5d7a-4c4e-9f6e-" + f"{len(self.secrets):012d}",
                                    "resourceVersion": "641"})
        # An API server never echoes stringData: it answers with data (base64).
        created.pop("stringData", None)
        return Response(201, created)

    def _get_secret(self, req):
        with self.lock:
            name = req.params["name"]
            if name in self.secrets and name not in self.deleted_secrets:
                return Response(200, self.secrets[name])
        return Response.fixture("status/status-404-notfound.json")

    def _patch_secret(self, req):
        """A JSON merge patch of the metadata (what Kiwi sends: ownerReferences)."""
        if req.headers.get("Content-Type") != "application/merge-patch+json":
            return Response.fixture("status/status-422-invalid.json")
        with self.lock:
            name = req.params["name"]
            if name not in self.secrets or name in self.deleted_secrets:
                return Response.fixture("status/status-404-notfound.json")
            patch = req.json()
            self.secrets[name]["metadata"].update(patch.get("metadata", {}))
            return Response(200, self.secrets[name])

    def _delete_secret(self, req):
        with self.lock:
            name = req.params["name"]
            if name not in self.secrets or name in self.deleted_secrets:
                return Response.fixture("status/status-404-notfound.json")
            self.deleted_secrets.add(name)
        return Response.fixture("status/status-200-success-delete.json")

    # Jobs.
    def _create_job(self, req):
        body = req.json()
        name = body["metadata"]["name"]
        early = self._refused_or_dry(req, "jobs", _load("jobs/job-created-201.json"))
        if early:
            return early
        with self.lock:
            if name in self.builds and not self.builds[name].deleted:
                return Response.fixture("status/status-409-alreadyexists.json")
            scenario = self.scenario_for.get(name, self.scenario)
            self.builds[name] = _Build(name, req.params["ns"], body, scenario)
        created = _load("jobs/job-created-201.json")
        created["metadata"].update({"name": name, "namespace": req.params["ns"],
                                    "labels": body["metadata"].get("labels", {})})
        created["spec"] = dict(created["spec"], **body["spec"])
        return Response(201, created)

    def _build(self, req):
        with self.lock:
            b = self.builds.get(req.params["name"])
            return b if b and not b.deleted else None

    def _get_job(self, req):
        b = self._build(req)
        if not b:
            return Response.fixture("status/status-404-notfound.json")
        now = time.time()
        if b.terminated(now):
            ok = SCENARIOS[b.scenario]["end"] == "succeeded"
            job = _load("jobs/job-succeeded-complete.json" if ok
                        else "jobs/job-failed-backofflimitexceeded.json")
        else:
            job = _load("jobs/job-running.json")
        job["metadata"].update({"name": b.name, "namespace": b.ns})
        return Response(200, job)

    def _delete_job(self, req):
        with self.lock:
            b = self.builds.get(req.params["name"])
            if not b or b.deleted:
                return Response.fixture("status/status-404-notfound.json")
            b.deleted = True  # propagationPolicy=Background: the pod goes with it
        return Response.fixture("status/status-200-success-delete.json")

    # Pods.
    def _pod_status(self, b, now):
        end = SCENARIOS[b.scenario]["end"]
        if end == "image-pull":
            return _load("pods/pod-status-only-imagepullbackoff.json")
        if end == "unschedulable":
            return _load("pods/pod-status-only-unschedulable-insufficient-cpu-memory.json")
        if not b.terminated(now):
            status = _load("pods/pod-running-ready.json")["status"]
            status["containerStatuses"][0]["name"] = "kaniko"
            return status
        if end == "oom":
            return _load("pods/pod-status-only-kaniko-oomkilled.json")
        # The recorded terminated pod of a failed Job, with Kaniko's exit code and, on
        # success, its termination message (no recording of one exists: see the README).
        status = _load("jobs/job-failed-pods-podlist.json")["items"][0]["status"]
        cs = status["containerStatuses"][0]
        cs["name"] = "kaniko"
        term = cs["state"]["terminated"]
        if end == "succeeded":
            status["phase"] = "Succeeded"
            term.update({"exitCode": 0, "reason": "Completed", "message": DIGEST})
        else:
            term.update({"exitCode": 1, "reason": "Error"})
        return status

    def _list_pods(self, req):
        if "pods" in self.denied:
            return Response.fixture("status/status-403-forbidden.json")
        selector = (req.query.get("labelSelector") or [""])[0]
        podlist = _load("jobs/job-failed-pods-podlist.json")
        template = podlist["items"][0]
        podlist["items"] = []
        if selector.startswith("job-name="):
            with self.lock:
                b = self.builds.get(selector[len("job-name="):])
            if b and not b.deleted:
                pod = copy.deepcopy(template)
                pod["metadata"].update({"name": b.pod, "namespace": b.ns,
                                        "generateName": b.name + "-"})
                pod["metadata"]["labels"].update({"job-name": b.name,
                                                  "batch.kubernetes.io/job-name": b.name})
                pod["status"] = self._pod_status(b, time.time())
                podlist["items"].append(pod)
        return Response(200, podlist)

    def _log(self, req):
        with self.lock:
            b = next((x for x in self.builds.values() if x.pod == req.params["pod"]), None)
        if not b or b.deleted:
            return Response.fixture("status/status-404-notfound.json")
        follow = (req.query.get("follow") or ["false"])[0] == "true"
        stamps = (req.query.get("timestamps") or ["false"])[0] == "true"
        since = (req.query.get("sinceTime") or [None])[0]
        since_t = (datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ")
                   .replace(tzinfo=timezone.utc).timestamp() if since else None)

        def chunks():
            i = 0
            while True:
                if b.deleted:
                    return
                if b.scenario != "slow" and i >= len(b.lines):
                    # Everything written: a follow stream ends when the container has.
                    while follow and not b.terminated(time.time()) and not b.deleted:
                        time.sleep(0.01)
                    return
                at, text = b.line_at(i)
                now = time.time()
                if at > now:
                    if not follow:
                        return
                    time.sleep(at - now)
                    continue
                i += 1
                if since_t is not None and at < since_t:
                    continue
                yield ((_rfc3339(at) + " " if stamps else "") + text + "\n").encode()

        return Response(200, chunks(), content_type="text/plain")

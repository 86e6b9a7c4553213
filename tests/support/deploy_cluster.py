"""Deployments, Services, Secrets, pods, events and logs for Kiwi's Kubernetes deployer
(common/deploy/kubernetes_deployer.cpp), on the stub API server (k8s_stub.K8sStub). No
Kubernetes API server can run on our machines; this stand-in keeps what was applied and plays
a rollout with recorded real objects (tests/fixtures/k8s/, sources in tests/fixtures/README.md),
the deploy's names put in (name, namespace, labels, annotations; the container's name and image
in pods and in the pull-failure event; nothing else changed):

- PATCH .../deployments|services|secrets/NAME (server-side apply) stores the object and
  answers 200. It checks what a real API server and Kiwi's contract ask of every apply, and
  writes each violation into the request's log entry ("violations"): Content-Type
  application/apply-patch+yaml, fieldManager=kiwi, force=true|false, the labels
  app.kubernetes.io/name, kiwi.dev/service, kiwi.dev/environment, the annotation
  kiwi.dev/deployment (on the pod template too), an image by digest, env values from a
  secretKeyRef only, and no value of a Secret anywhere but in that Secret.
  Namespace "missing" answers the recorded 404; scenario "conflict" answers the recorded 409
  to an apply of the Deployment without force (a real server's field-manager conflict).
- GET .../deployments/NAME: the recorded Deployment of the scenario's step (one step per GET,
  the last one repeats); 404 (recorded) when not applied.
- GET .../deployments (namespaced or cluster-wide) ?labelSelector=: the applied ones.
- GET .../pods?labelSelector=: a PodList of one pod with the scenario's recorded status.
- GET .../events: the scenario's recorded Warning events, about that pod.
- GET .../pods/POD/log?previous=true&tailLines=N: recorded log lines (kaniko/log-run-failed.txt,
  a real container's output), the last N.
- GET .../services/NAME: the recorded Service with the applied spec.
- DELETE of any of them: the recorded Success Status; 404 when absent.

Scenarios:

    success       Deployment: generation ahead of status, then available; pod running, ready
    image-pull    Deployment progressing forever; pod in ImagePullBackOff, events Failed
    crash-loop    progressing; pod in CrashLoopBackOff (restarted 2 times), BackOff event
    unschedulable progressing; pod Pending, Unschedulable (Insufficient cpu, memory)
    config-error  progressing; pod in CreateContainerConfigError (a ConfigMap not found)
    deadline      progressing, then ProgressDeadlineExceeded
    conflict      like success, but an apply of the Deployment without force gets the 409
"""

import copy
import json
import os
import threading

from k8s_stub import FIXTURES, Response

NS = r"/namespaces/(?P<ns>[^/]+)"
NAME = r"(?P<name>[^/]+)"
APPLY_TYPE = "application/apply-patch+yaml"
LABELS = ("app.kubernetes.io/name", "kiwi.dev/service", "kiwi.dev/environment")
ANNOTATION = "kiwi.dev/deployment"
POD_SUFFIX = "-75dd4d49d5-x2k9p"

AVAILABLE = "deployments/deployment-available-newreplicasetavailable.json"
AHEAD = "deployments/deployment-patched-200-generation-ahead-of-status.json"
PROGRESSING = "deployments/deployment-progressing-replicasetupdated.json"
DEADLINE = "deployments/deployment-progressdeadlineexceeded.json"
RUNNING = ("pods/pod-running-ready.json", None)

SCENARIOS = {
    "success": {"steps": [AHEAD, AVAILABLE], "pod": RUNNING, "events": []},
    "conflict": {"steps": [AHEAD, AVAILABLE], "pod": RUNNING, "events": []},
    "image-pull": {"steps": [PROGRESSING], "pod": ("pods/pod-imagepullbackoff.json", None),
                   "events": ["events/event-failed-pull-image.json",
                              "events/event-failed-imagepullbackoff.TRIMMED.json"]},
    "crash-loop": {"steps": [PROGRESSING],
                   "pod": ("pods/pod-running-ready.json",
                           "pods/pod-status-only-crashloopbackoff-laststate-terminated.json"),
                   "events": ["events/event-backoff.TRIMMED.json"]},
    "unschedulable": {"steps": [PROGRESSING],
                      "pod": ("pods/pod-running-ready.json",
                              "pods/pod-status-only-unschedulable-insufficient-cpu-memory.json"),
                      "events": []},
    "config-error": {"steps": [PROGRESSING],
                     "pod": ("pods/pod-createcontainerconfigerror.TRIMMED.json", None),
                     "events": []},
    "deadline": {"steps": [PROGRESSING, DEADLINE], "pod": RUNNING, "events": []},
}


def _load(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def _walk_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_strings(v)


class DeployCluster:
    def __init__(self, stub, scenario="success"):
        self.stub = stub
        self.scenario = SCENARIOS[scenario]
        self.name = scenario
        self.objects = {}        # (collection, ns, name) → the applied object
        self.gets = {}           # deployment (ns, name) → GETs so far
        self.secret_values = set()
        self.lock = threading.Lock()
        for prefix, collection in (("/apis/apps/v1", "deployments"), ("/api/v1", "services"),
                                   ("/api/v1", "secrets")):
            path = prefix + NS + "/" + collection + "/" + NAME
            stub.route("PATCH", path, lambda req, c=collection: self._apply(req, c))
            stub.route("DELETE", path, lambda req, c=collection: self._delete(req, c))
        stub.route("GET", r"/apis/apps/v1" + NS + r"/deployments/" + NAME, self._get_deployment)
        stub.route("GET", r"/apis/apps/v1(?:" + NS + r")?/deployments", self._list_deployments)
        stub.route("GET", r"/api/v1" + NS + r"/services/" + NAME, self._get_service)
        stub.route("GET", r"/api/v1" + NS + r"/pods", self._list_pods)
        stub.route("GET", r"/api/v1" + NS + r"/events", self._list_events)
        stub.route("GET", r"/api/v1" + NS + r"/pods/(?P<pod>[^/]+)/log", self._log)

    # Applies.
    def _check_apply(self, req, collection, body):
        problems = []
        if req.headers.get("Content-Type") != APPLY_TYPE:
            problems.append("Content-Type is %r, not %s" % (req.headers.get("Content-Type"),
                                                           APPLY_TYPE))
        if req.query.get("fieldManager") != ["kiwi"]:
            problems.append("fieldManager is %r, not kiwi" % req.query.get("fieldManager"))
        if req.query.get("force") not in (["true"], ["false"]):
            problems.append("force is %r, not true or false" % req.query.get("force"))
        meta = body.get("metadata", {})
        if meta.get("name") != req.params["name"] or meta.get("namespace") != req.params["ns"]:
            problems.append("metadata name/namespace differ from the path")
        for where, m in [("metadata", meta)] + (
                [("spec.template.metadata", body["spec"]["template"]["metadata"])]
                if collection == "deployments" else []):
            for label in LABELS:
                if not m.get("labels", {}).get(label):
                    problems.append("%s has no label %s" % (where, label))
            if not m.get("annotations", {}).get(ANNOTATION):
                problems.append("%s has no annotation %s" % (where, ANNOTATION))
        if collection == "secrets":
            self.secret_values.update(v for v in body.get("stringData", {}).values() if v)
        else:
            text = json.dumps(body)
            if any(v in text for v in self.secret_values):
                problems.append("a Secret's value is in the %s" % collection)
        if collection == "deployments":
            for c in body["spec"]["template"]["spec"]["containers"]:
                if "@sha256:" not in c.get("image", ""):
                    problems.append("image %r is not by digest" % c.get("image"))
                for e in c.get("env", []):
                    if "value" in e and "valueFrom" in e:
                        problems.append("env %s has a value and a valueFrom" % e["name"])
        return problems

    def _apply(self, req, collection):
        body = req.json()
        req.notes["violations"] = self._check_apply(req, collection, body)
        if req.params["ns"] == "missing":
            return Response.fixture("status/status-404-notfound.json")
        if (self.name == "conflict" and collection == "deployments"
                and req.query.get("force") != ["true"]):
            return Response.fixture("status/status-409-alreadyexists.json")
        with self.lock:
            self.objects[(collection, req.params["ns"], req.params["name"])] = body
        shown = {k: v for k, v in body.items() if k not in ("stringData", "data")}
        return Response(200, shown)

    def _delete(self, req, collection):
        with self.lock:
            gone = self.objects.pop((collection, req.params["ns"], req.params["name"]), None)
        if gone is None:
            return Response.fixture("status/status-404-notfound.json")
        return Response.fixture("status/status-200-success-delete.json")

    # Reads.
    def _deployment(self, ns, name, count):
        applied = self.objects.get(("deployments", ns, name))
        if applied is None:
            return None
        steps = self.scenario["steps"]
        d = _load(steps[min(count, len(steps) - 1)])
        d["metadata"].update({k: applied["metadata"][k]
                              for k in ("name", "namespace", "labels", "annotations")})
        d["spec"]["template"] = applied["spec"]["template"]
        return d

    def _get_deployment(self, req):
        key = (req.params["ns"], req.params["name"])
        with self.lock:
            count = self.gets.get(key, 0)
            d = self._deployment(*key, count)
            if d is not None:
                self.gets[key] = count + 1
        return Response(200, d) if d else Response.fixture("status/status-404-notfound.json")

    def _list_deployments(self, req):
        selector = dict(p.split("=", 1) for p in
                        (req.query.get("labelSelector") or [""])[0].split(",") if "=" in p)
        items = []
        with self.lock:
            for (collection, ns, name), obj in self.objects.items():
                labels = obj["metadata"].get("labels", {})
                if (collection == "deployments"
                        and (req.params.get("ns") in (None, ns))
                        and all(labels.get(k) == v for k, v in selector.items())):
                    items.append(self._deployment(ns, name, len(self.scenario["steps"])))
        return Response(200, {"kind": "DeploymentList", "apiVersion": "apps/v1", "items": items})

    def _get_service(self, req):
        applied = self.objects.get(("services", req.params["ns"], req.params["name"]))
        if applied is None:
            return Response.fixture("status/status-404-notfound.json")
        s = _load("services/service-created-201.json")
        s["metadata"].update({k: applied["metadata"][k]
                              for k in ("name", "namespace", "labels", "annotations")})
        s["spec"]["ports"] = applied["spec"]["ports"]
        s["spec"]["selector"] = applied["spec"]["selector"]
        return Response(200, s)

    def _applied_deployment(self, ns):
        with self.lock:
            for (collection, n, _), obj in self.objects.items():
                if collection == "deployments" and n == ns:
                    return obj
        return None

    def _pod(self, ns):
        applied = self._applied_deployment(ns)
        if applied is None:
            return None
        base, status = self.scenario["pod"]
        pod = _load(base)
        if status:
            loaded = _load(status)
            pod["status"] = loaded.get("status", loaded)
        template = applied["spec"]["template"]
        container = template["spec"]["containers"][0]
        pod["metadata"] = {"name": applied["metadata"]["name"] + POD_SUFFIX, "namespace": ns,
                           "labels": template["metadata"]["labels"],
                           "annotations": template["metadata"]["annotations"]}
        pod["spec"]["containers"] = [container]
        for cs in pod["status"].get("containerStatuses", []):
            cs["name"], cs["image"] = container["name"], container["image"]
        return pod

    def _list_pods(self, req):
        pod = self._pod(req.params["ns"])
        return Response(200, {"kind": "PodList", "apiVersion": "v1",
                              "items": [pod] if pod else []})

    def _list_events(self, req):
        pod = self._pod(req.params["ns"])
        items = []
        for name in self.scenario["events"] if pod else []:
            e = _load(name)
            old = e["involvedObject"].get("name", "")
            e["involvedObject"].update({"name": pod["metadata"]["name"],
                                        "namespace": req.params["ns"]})
            if "Failed to pull image" in e.get("message", ""):
                # The recorded message names the recorded image; put the deploy's in.
                recorded = e["message"].split('"')[1]
                e["message"] = e["message"].replace(recorded, pod["spec"]["containers"][0]["image"])
            e["metadata"]["name"] = e["metadata"]["name"].replace(old, pod["metadata"]["name"])
            items.append(e)
        return Response(200, {"kind": "EventList", "apiVersion": "v1", "items": items})

    def _log(self, req):
        problems = []
        if req.query.get("previous") != ["true"]:
            problems.append("a crashed container's log needs previous=true")
        req.notes["violations"] = problems
        tail = int((req.query.get("tailLines") or ["1000"])[0])
        with open(os.path.join(FIXTURES, "kaniko", "log-run-failed.txt")) as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        return Response(200, "".join(line + "\n" for line in lines[-tail:]),
                        content_type="text/plain")

"""config/kiwi.example.json is a configuration kiwid accepts (`kiwid --check-config`), with
its *_file secrets replaced by files made here; and a mistake in it is reported by key."""

import json
import os
import subprocess

import pytest

from kiwi_harness import BIN_DIR, rmtree, tempdir

SOURCE_DIR = os.environ.get("KIWI_SOURCE_DIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture
def root():
    d = tempdir()
    yield d
    rmtree(d)


def local_copy(root):
    with open(os.path.join(SOURCE_DIR, "config", "kiwi.example.json")) as f:
        config = json.load(f)
    for section in ("services", "registries", "runtimes"):
        for item in config.get(section, []):
            for key, value in list(item.items()):
                if key.endswith("_file"):
                    path = os.path.join(root, os.path.basename(value))
                    with open(path, "w") as out:
                        out.write(PEM if key == "ca_file" else "UNIQUE-example-secret-0123\n")
                    item[key] = path
    config["data_dir"] = root
    return config


def check(root, config):
    path = os.path.join(root, "kiwi.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return subprocess.run([os.path.join(BIN_DIR, "kiwid"), "--config", path, "--check-config"],
                          capture_output=True, text=True, timeout=30)


def test_the_example_configuration_is_valid(root):
    config = local_copy(root)
    assert {s.get("build_runtime", "local") for s in config["services"]} == \
        {"local", "prod-cluster"}  # both build backends are shown
    r = check(root, config)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "is valid (2 services)" in r.stdout + r.stderr


def test_a_mistake_in_it_is_named_by_its_key(root):
    config = local_copy(root)
    config["runtimes"][0]["kaniko"]["memory_limit"] = "4 GB"
    r = check(root, config)
    assert r.returncode != 0
    assert "kaniko.memory_limit" in r.stderr + r.stdout and "4 GB" in r.stderr + r.stdout

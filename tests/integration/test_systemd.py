"""systemd-analyze verify on Kiwi's unit files (systemd/): no error and no warning.

How: each unit is copied to a temp dir with /usr/local/bin rewritten to a temp bin dir holding
stand-in executables (verify fails when an ExecStart= binary does not exist; `--root` would need
a whole image). The template kiwi-worker@.service keeps its name and is verified through an
instance, kiwi-worker@1.service, as systemd loads it. An unknown directive or a bad value is only
a warning to systemd (exit status 0), so every output line about the unit counts as a failure;
the negative controls below prove that a typo is caught.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

SOURCE_DIR = os.environ.get("KIWI_SOURCE_DIR",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
# unit file -> the name verify is given (an instance for the template)
UNITS = {"kiwid.service": "kiwid.service", "kiwi-worker@.service": "kiwi-worker@1.service"}


@pytest.fixture
def tmp():
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze not found: install the Debian package systemd")
    d = tempfile.mkdtemp(prefix="kiwi-units-")
    os.makedirs(os.path.join(d, "bin"))
    for b in ("kiwid", "kiwi-worker"):
        p = os.path.join(d, "bin", b)
        with open(p, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(p, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def unit_text(tmp, source):
    with open(os.path.join(SOURCE_DIR, "systemd", source)) as f:
        text = f.read()
    assert "/usr/local/bin/" in text
    return text.replace("/usr/local/bin/", os.path.join(tmp, "bin") + "/")


def verify(tmp, source, text):
    """Writes text as tmp/<source>, verifies it; returns (exit status, lines about the unit)."""
    with open(os.path.join(tmp, source), "w") as f:
        f.write(text)
    res = subprocess.run(["systemd-analyze", "verify", os.path.join(tmp, UNITS[source])],
                         capture_output=True, text=True, timeout=60, cwd=tmp)
    stem = source.split("@")[0].removesuffix(".service")
    out = (res.stdout + res.stderr).splitlines()
    about_unit = [l for l in out if stem in l]
    return res.returncode, about_unit


def directives(source):
    """[Service] key -> list of values, from the unit as written."""
    keys, section = {}, None
    with open(os.path.join(SOURCE_DIR, "systemd", source)) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line and not line.startswith(("#", ";")):
                k, _, v = line.partition("=")
                keys.setdefault(k.strip(), []).append(v.strip())
    return keys


@pytest.mark.parametrize("source", sorted(UNITS))
def test_unit_verifies_cleanly(tmp, source):
    code, about_unit = verify(tmp, source, unit_text(tmp, source))
    assert code == 0 and about_unit == [], about_unit


@pytest.mark.parametrize("source", sorted(UNITS))
def test_unit_has_the_required_settings(source):
    d = directives(source)
    binary = "kiwid" if source == "kiwid.service" else "kiwi-worker"
    expected = {
        "Type": "notify", "NotifyAccess": "main",
        "ExecStart": f"/usr/local/bin/{binary} --config /etc/kiwi/kiwi.json --log-format json",
        "WatchdogSec": "30", "Restart": "on-failure", "RestartSec": "2",
        "NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectHome": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "LockPersonality": "yes",
        "RestrictRealtime": "yes", "SystemCallArchitectures": "native", "LimitNOFILE": "65536",
        # Nothing Kiwi writes is readable by other users (issue 14).
        "UMask": "0077",
        "TimeoutStopSec": "30" if binary == "kiwid" else "120",
    }
    if binary == "kiwid":
        expected.update({
            "User": "kiwi", "Group": "kiwi", "StateDirectory": "kiwi",
            "StateDirectoryMode": "0700", "ProtectSystem": "strict",
            "ReadWritePaths": "/var/lib/kiwi", "ProtectKernelTunables": "yes",
            "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
            "RestrictNamespaces": "yes", "CapabilityBoundingSet": ""})
    else:
        # Root, for isolated builds (Kiwi's bridge and firewall rules); /usr and /etc read-only.
        expected.update({"ProtectSystem": "full"})
    for key, value in expected.items():
        assert d.get(key, [None])[-1] == value, f"{source}: {key}={d.get(key)}, want {value!r}"
    if binary == "kiwi-worker":
        # buildah as root: user namespaces, sysctls (CNI), cgroups (runc), setuid files in
        # layers; and no StateDirectory= that would chown kiwid's /var/lib/kiwi to root
        for key in ("RestrictNamespaces", "User", "StateDirectory", "ProtectKernelTunables",
                    "ProtectControlGroups", "RestrictSUIDSGID"):
            assert key not in d, f"{source}: {key}={d[key]}"
        assert "AF_NETLINK" in d["RestrictAddressFamilies"][-1].split()

@pytest.mark.parametrize("source", sorted(UNITS))
@pytest.mark.parametrize("broken", [("NoNewPrivileges=yes", "NoNewPrivilegez=yes"),
                                    ("WatchdogSec=30", "WatchdogSec=30x"),
                                    ("[Service]", "[Servise]")])
def test_a_broken_unit_is_caught(tmp, source, broken):
    # Negative control: the check above fails when a directive is misspelt or a value is bad.
    good = unit_text(tmp, source)
    assert broken[0] in good
    code, about_unit = verify(tmp, source, good.replace(broken[0], broken[1], 1))
    assert code != 0 or about_unit, f"systemd-analyze did not report {broken[1]}"

"""systemd-analyze verify on Kiwi's unit files: no errors and no warnings (unknown keys are
only warnings, so the output is checked too). The ExecStart binaries are replaced by stand-in
scripts in a temp dir, since verify checks that they exist."""

import os
import shutil
import subprocess
import tempfile

import pytest

SOURCE_DIR = os.environ.get("KIWI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
UNITS = {"kiwid.service": "kiwid.service", "kiwi-worker@.service": "kiwi-worker@1.service"}


def verify(tmp, text, name):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    res = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                         timeout=60, cwd=tmp)
    noise = [l for l in (res.stdout + res.stderr).splitlines() if name in l or "Unknown" in l]
    return res.returncode, noise


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="kiwi-units-")
    os.makedirs(os.path.join(d, "bin"))
    for b in ("kiwid", "kiwi-worker"):
        p = os.path.join(d, "bin", b)
        with open(p, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(p, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def unit_text(tmp, source):
    with open(os.path.join(SOURCE_DIR, "systemd", source)) as f:
        return f.read().replace("/usr/local/bin", os.path.join(tmp, "bin"))


@pytest.mark.parametrize("source", sorted(UNITS))
def test_unit_verifies_cleanly(tmp, source):
    text = unit_text(tmp, source)
    assert "Type=notify" in text and "NoNewPrivileges=yes" in text
    assert "ProtectSystem=strict" in text and "ReadWritePaths=/var/lib/kiwi" in text
    code, noise = verify(tmp, text, UNITS[source])
    assert code == 0 and noise == [], noise


def test_a_misspelt_directive_is_caught(tmp):
    # The check above can fail: a typo in a directive shows up.
    text = unit_text(tmp, "kiwid.service").replace("NoNewPrivileges", "NoNewPrivilegez")
    code, noise = verify(tmp, text, "kiwid.service")
    assert noise, "systemd-analyze did not report the misspelt directive"

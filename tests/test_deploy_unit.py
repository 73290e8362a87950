"""deploy/aiguillage.service, the systemd unit, and deploy/aiguillage.env.example, its environment file.

What can be checked without systemd as process 1: `systemd-analyze verify` reads the unit without a
warning; its command is the one `make run` serves with; the exit statuses the product uses for "a
restart would not mend it" are the ones it does not restart on; every variable both files name is one
the product or the Makefile reads; and the server, started with the unit's command and environment the
way the unit runs it (another user, the filesystem read-only but var/, a /tmp of its own, no writable
home), starts, is ready and answers a chat turn."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import MODEL, ROOT, Server, free_port, stop
from test_disk_full import chat
from test_health import probe
from test_readme import environment_variables

from bot.nlu.model import MODEL_REFUSED_EXIT
from bot.store.disk import DISK_FULL_EXIT

UNIT = ROOT / "deploy" / "aiguillage.service"
ENV_EXAMPLE = ROOT / "deploy" / "aiguillage.env.example"
INSTALLED = "/srv/aiguillage"  # where the unit expects the checkout
ENV_FILE = "/etc/aiguillage/aiguillage.env"
NOBODY = 65534


def unit() -> dict[str, list[str]]:
    """The unit's [Service], [Unit] and [Install] keys, each with its values in order (`Key=value` lines)."""
    keys: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key, []).append(value)
    return keys


def one(key: str) -> str:
    (value,) = unit()[key]
    return value


def unit_environment() -> dict[str, str]:
    """`Environment=` (the unit's own values), then the environment file (which overrides them)."""
    env = dict(pair.split("=", 1) for line in unit()["Environment"] for pair in line.split())
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def test_systemd_analyze_verifies_the_unit_without_a_warning(tmp_path):
    """The unit as shipped, its paths moved to this checkout (verify checks that the command exists)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd): the unit's syntax is not verified")
    text = UNIT.read_text(encoding="utf-8").replace(INSTALLED, str(ROOT)).replace(ENV_FILE, str(ENV_EXAMPLE))
    (tmp_path / "aiguillage.service").write_text(text, encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(tmp_path / "aiguillage.service")], capture_output=True, text=True)
    assert (done.returncode, done.stderr.strip()) == (0, "")


def test_the_unit_serves_with_the_command_make_run_serves_with():
    recipe = re.search(r"^run:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M).group(1)
    served = [line.strip() for line in recipe.splitlines() if " -m bot serve " in line]
    assert served, "the Makefile's run target no longer serves with python -m bot serve"
    made = served[0].replace("$(PY)", ".venv/bin/python").replace("$(MODEL)", "models/aiguillage.tar.gz")
    made = re.sub(r"\$\((\w+)\)", r"${\1}", made)
    assert one("ExecStart") == f"{INSTALLED}/{made}"
    assert one("WorkingDirectory") == INSTALLED
    for name in ("credentials.yml", "endpoints.yml", ".venv/bin/python", "bot/__main__.py"):
        assert (ROOT / name).exists(), name


def test_the_unit_does_not_restart_what_a_restart_cannot_mend_and_is_hardened():
    keys = unit()
    assert one("Restart") == "on-failure"
    assert set(one("RestartPreventExitStatus").split()) == {str(MODEL_REFUSED_EXIT), str(DISK_FULL_EXIT)}
    assert one("User") == one("Group") == "aiguillage"
    assert one("EnvironmentFile") == ENV_FILE
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert keys[key] == [value], key
    var = f"{INSTALLED}/var"
    assert one("ReadWritePaths") == var
    env = unit_environment()
    for name in ("AIGUILLAGE_DB", "AIGUILLAGE_REVIEW_OUT"):  # what the server writes: under var/
        assert env[name].startswith(var + "/"), name


def test_every_variable_the_unit_and_its_file_name_is_one_the_product_or_the_makefile_reads():
    named = set(unit_environment()) | set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))
    exported = set(re.findall(r"^export (\w+)", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    assert named - set(environment_variables()) - exported == set()
    assert {"PREFECTURE", "AIGUILLAGE_DB", "PUBLIC_BASE_URL", "SMTP_HOST", "TWILIO_AUTH_TOKEN", "DATABASE_URL"} <= named


# Run inside a mount namespace of its own as root, then as `nobody`: ProtectSystem=strict with
# ReadWritePaths=var/ (the root filesystem read-only, a folder of the test mounted on var/), PrivateTmp
# (a tmpfs of its own, given as TMPDIR: the checkout may itself sit under /tmp), ProtectHome (the home
# folders emptied and read-only), NoNewPrivileges. One folder is kept in an emptied home when the
# virtual environment's Python lives there (AIGUILLAGE_TEST_KEEP: pyenv under /root on a test machine;
# a deployment's venv is made from Debian's /usr/bin/python3.11, which ProtectHome leaves alone).
SANDBOX = """set -e
mount --bind "$AIGUILLAGE_TEST_VAR" "$AIGUILLAGE_TEST_ROOT/var"
mount -t tmpfs -o mode=1777,size=512m tmpfs "$TMPDIR"
if [ -n "$AIGUILLAGE_TEST_KEEP" ]; then mount --bind "$AIGUILLAGE_TEST_KEEP" "$AIGUILLAGE_TEST_STASH"; fi
for home in /root /home /run/user; do
    [ -d "$home" ] || continue
    case "$AIGUILLAGE_TEST_KEEP" in "$home"/*) mode=0711 ;; *) mode=0000 ;; esac
    mount -t tmpfs -o mode=$mode tmpfs "$home"
    case "$AIGUILLAGE_TEST_KEEP" in
        "$home"/*) mkdir -p "$AIGUILLAGE_TEST_KEEP"; mount --move "$AIGUILLAGE_TEST_STASH" "$AIGUILLAGE_TEST_KEEP" ;;
    esac
    mount -o remount,ro,bind "$home"
done
mount -o remount,bind,ro /
exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs "$@"
"""
HOMES = ("/root", "/home", "/run/user")


def python_home() -> str:
    """The installation of the virtual environment's Python, when it lives in a home folder; else ""."""
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True
    )
    prefix = os.path.realpath(done.stdout.strip())
    return prefix if prefix.startswith(tuple(f"{home}/" for home in HOMES)) else ""


def sandboxed(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    """The unit's command and environment, for the checkout and a free port, wrapped in SANDBOX; and var/."""
    var = Path(tempfile.mkdtemp(prefix="aiguillage-var-"))
    os.chown(var, NOBODY, NOBODY)
    private_tmp, stash = (Path(tempfile.mkdtemp(prefix=f"aiguillage-{what}-")) for what in ("tmp", "stash"))
    (ROOT / "var").mkdir(exist_ok=True)  # the mount point (make run makes it too)
    env = {name: value.replace(INSTALLED, str(ROOT)) for name, value in unit_environment().items()}
    env |= {"PORT": str(free_port()), "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env |= {"HOME": str(ROOT), "USER": "aiguillage", "LOGNAME": "aiguillage", "SHELL": "/usr/sbin/nologin"}
    env |= {"TMPDIR": str(private_tmp), "AIGUILLAGE_TEST_VAR": str(var), "AIGUILLAGE_TEST_ROOT": str(ROOT)}
    env |= {"AIGUILLAGE_TEST_KEEP": python_home(), "AIGUILLAGE_TEST_STASH": str(stash)}
    command = [
        word.replace(INSTALLED, str(ROOT)).replace("${AIGUILLAGE_HOST}", env["AIGUILLAGE_HOST"]).replace("${PORT}", env["PORT"])
        for word in one("ExecStart").split()
    ]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", SANDBOX, "sandbox", *command], env, var


def test_the_server_runs_as_the_unit_runs_it_writing_under_var_only(tmp_path):
    if not MODEL.exists():
        pytest.exit(f"No trained model at {MODEL}: run the tests with `make test` (it trains first).", returncode=2)
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("needs root, unshare and setpriv (util-linux) to run the server as the unit runs it")
    command, env, var = sandboxed(tmp_path)
    log = tmp_path / "unit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{env['PORT']}", var / "aiguillage.db", log, proc)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(server.url + "/chat/config", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert time.monotonic() < deadline, f"no answer within 180 s:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
        status, body, _ = probe(server)
        assert status == 200, body
        assert body["checks"]["store"] == {"status": "ok", "backend": "sqlite", "writable": True}
        assert body["status"] == "ok", body
        status, answer = chat(server, "unite-systemd", "changement d'adresse sur ma carte grise")
        assert status == 200 and answer[0]["text"].startswith("Les démarches de carte grise")
        assert (var / "aiguillage.db").exists() and (var / "aiguillage.db").stat().st_uid == NOBODY
    finally:
        stop(server)
        shown = log.read_text()
        for folder in (var, Path(env["TMPDIR"]), Path(env["AIGUILLAGE_TEST_STASH"])):
            shutil.rmtree(folder, ignore_errors=True)
    # Rasa writes its telemetry settings once per home (~/.config/rasa/global.yml: made by `make setup`
    # run by the deployment's owner, not by this test); when it cannot, it says so and goes on.
    refused = [
        line
        for line in shown.splitlines()
        if ("Read-only file system" in line or "Permission denied" in line) and "Failed to write global config" not in line
    ]
    assert refused == [], shown[-3000:]

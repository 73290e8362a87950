"""`python -m tools.ivr audit`: the shipped Cantal mystery calls pass against the test server, and a
wrong expectation fails with exit code 1."""

import subprocess

import pytest
import yaml
from conftest import ROOT, TWILIO_TEST_TOKEN, launch, stop


def audit(python, server, path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "tools.ivr", "audit", str(path), "--url", server.url, "--token", TWILIO_TEST_TOKEN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cantal_scenarios_pass(python, server):
    result = audit(python, server, ROOT / "tools" / "ivr" / "scenarios" / "cantal.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["scenario", "steps", "expected", "got", "result"]
    assert "FAIL" not in result.stdout
    assert lines[-1] == "19 passed, 0 failed"
    assert any(l.startswith("keypad: carte grise, hears 34 00") and l.rstrip().endswith("PASS") for l in lines)


def test_without_url_it_calls_the_server_on_port(python, server):
    # `PORT=8080 make run` serves on 8080: `python -m tools.ivr audit` without --url called 5005 anyway
    # (a traceback, connection refused). With the server's PORT it plays the Cantal calls there.
    import os

    port = server.url.rsplit(":", 1)[1]
    env = dict(os.environ, PORT=port, TWILIO_AUTH_TOKEN=TWILIO_TEST_TOKEN)
    out = subprocess.run(
        [python, "-m", "tools.ivr", "audit", str(ROOT / "tools" / "ivr" / "scenarios" / "cantal.yml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Mystery calls: {ROOT / 'tools' / 'ivr' / 'scenarios' / 'cantal.yml'} against {server.url}" in out.stdout
    # No server on PORT: one line naming the address, no traceback.
    out = subprocess.run(
        [python, "-m", "tools.ivr", "audit", "tools/ivr/scenarios/cantal.yml"],
        cwd=ROOT,
        env=dict(env, PORT="9"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (out.returncode, out.stdout + out.stderr) == (
        2,
        "No Aiguillage server answers on http://127.0.0.1:9: start it first (`make run`), or give its address with --url.\n",
    )


def test_a_wrong_scenario_fails_with_exit_code_1(python, server, tmp_path):
    path = tmp_path / "wrong.yml"
    path.write_text(
        "prefecture: cantal\n"
        "scenarios:\n"
        "  - name: carte grise is not the permis\n"
        "    steps: ['1', '1']\n"
        "    expect: {node: permis_conduire, number: '34 00'}\n"
        "  - name: armes never transfers\n"
        "    steps: ['5', '1', '1']\n"
        "    expect: {transfer: '04 71 46 23 00'}\n",
        encoding="utf-8",
    )
    result = audit(python, server, path)
    assert result.returncode == 1
    assert "node: expected permis_conduire, got carte_grise" in result.stdout
    assert "transfer: expected +33471462300, got none" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 passed, 2 failed"


def test_a_scenario_for_another_prefecture_is_refused(python, server, tmp_path):
    path = tmp_path / "loire.yml"
    path.write_text("prefecture: loire\nscenarios:\n  - name: x\n    steps: ['1']\n    expect: {}\n", encoding="utf-8")
    result = audit(python, server, path)
    assert result.returncode == 1
    assert "the server does not serve the préfecture de la Loire" in result.stdout


@pytest.mark.parametrize("prefecture", ["gironde", "indre-et-loire", "loire", "vienne"])
def test_the_other_prefectures_scenarios_pass_against_their_own_server(python, tmp_path, prefecture):
    """Each shipped scenario file, against a server of its préfecture, with Twilio's complete bodies."""
    path = ROOT / "tools" / "ivr" / "scenarios" / f"{prefecture}.yml"
    count = len(yaml.safe_load(path.read_text(encoding="utf-8"))["scenarios"])
    running = launch(tmp_path, prefecture=prefecture)
    try:
        result = audit(python, running, path)
    finally:
        stop(running)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"{count} passed, 0 failed"

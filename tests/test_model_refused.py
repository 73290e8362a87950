"""A model file Rasa cannot load stops the server with a message that says what to do (issue 12),
instead of a server that answers every chat message with the apology."""

from __future__ import annotations

import os
import subprocess

from conftest import ROOT, free_port

from bot.nlu.model import MODEL_REFUSED_EXIT, served_model


def test_the_served_model_is_read_from_rasas_command_line():
    assert served_model(["rasa", "run", "--model", "models/a.tar.gz", "--port", "1"]) == "models/a.tar.gz"
    assert served_model(["rasa", "run", "-m", "b.tar.gz"]) == "b.tar.gz"
    assert served_model(["rasa", "run", "--model=c.tar.gz"]) == "c.tar.gz"
    assert served_model(["rasa", "run"]) is None


def test_a_damaged_model_stops_the_server_with_a_clear_message(tmp_path):
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(b"this is not a model")
    port = free_port()
    env = dict(os.environ, PORT=str(port), AIGUILLAGE_DB=str(tmp_path / "a.db"), RASA_TELEMETRY_ENABLED="false")
    for name in ("TWILIO_AUTH_TOKEN", "IVR_LOCAL_DEV", "IVR_TEST_CLOCK"):
        env.pop(name, None)
    # `python -m bot serve` is `rasa run` with the action endpoint's key (endpoints.yml needs it)
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "bot", "serve", "--model", str(damaged), "--port", str(port)]
    cmd += ["--credentials", "credentials.yml", "--endpoints", "endpoints.yml"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == MODEL_REFUSED_EXIT == 3
    assert f"Aiguillage cannot start: the model file {damaged} could not be loaded" in done.stderr
    assert "make train" in done.stderr

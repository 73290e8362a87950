"""A model file Rasa cannot load stops the server with a message that says what to do (issue 12),
instead of a server that answers every chat message with the apology."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

from conftest import MODEL, ROOT, free_port

from bot.nlu.model import MODEL_REFUSED_EXIT, served_model


def test_the_served_model_is_read_from_rasas_command_line():
    assert served_model(["rasa", "run", "--model", "models/a.tar.gz", "--port", "1"]) == "models/a.tar.gz"
    assert served_model(["rasa", "run", "-m", "b.tar.gz"]) == "b.tar.gz"
    assert served_model(["rasa", "run", "--model=c.tar.gz"]) == "c.tar.gz"
    assert served_model(["rasa", "run"]) is None


def served_then_stopped(tmp_path, damaged) -> subprocess.CompletedProcess:
    port = free_port()
    env = dict(os.environ, PORT=str(port), AIGUILLAGE_DB=str(tmp_path / "a.db"), RASA_TELEMETRY_ENABLED="false")
    for name in ("TWILIO_AUTH_TOKEN", "IVR_LOCAL_DEV", "IVR_TEST_CLOCK"):
        env.pop(name, None)
    # `python -m bot serve` is `rasa run` with the action endpoint's key (endpoints.yml needs it)
    cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "bot", "serve", "--model", str(damaged), "--port", str(port)]
    cmd += ["--credentials", "credentials.yml", "--endpoints", "endpoints.yml"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_damaged_model_stops_the_server_with_a_clear_message(tmp_path):
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(b"this is not a model")
    done = served_then_stopped(tmp_path, damaged)
    assert done.returncode == MODEL_REFUSED_EXIT == 3
    assert f"Aiguillage cannot start: the model file {damaged} could not be loaded" in done.stderr
    assert "make train" in done.stderr


def test_a_model_whose_classifier_file_is_damaged_stops_the_server_too(tmp_path):
    # The archive is whole, the classifier's arrays inside are not: the server must not start and answer
    # every message with a classifier that knows nothing (bot/nlu/classifier_file.py Refused).
    damaged = tmp_path / "classifier_damaged.tar.gz"
    with tarfile.open(MODEL) as source, tarfile.open(damaged, "w:gz") as copy:
        names = [m.name for m in source.getmembers()]
        assert any(n.endswith("/tfidf_intent_classifier.npz") for n in names), names
        for member in source.getmembers():
            if member.name.endswith("/tfidf_intent_classifier.npz"):
                data = b"PK\x03\x04 cut short"
                member.size = len(data)
                copy.addfile(member, io.BytesIO(data))
            else:
                copy.addfile(member, source.extractfile(member) if member.isfile() else None)
    done = served_then_stopped(tmp_path, damaged)
    assert done.returncode == MODEL_REFUSED_EXIT
    assert f"Aiguillage cannot start: the model file {damaged} could not be loaded" in done.stderr

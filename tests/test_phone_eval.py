"""bench/phone_eval.py: routing by phone, scored from what a real server answers to Twilio's signed bodies."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not (ROOT / "models" / "aiguillage.tar.gz").exists(), reason="needs the trained model (make train or make test)"
)

UNSURE = "Alors voilà, j'ai reçu un courrier que je comprends pas du tout, il faut que je fasse quelque chose sur internet."
ITEMS = [
    # answered, right
    {
        "id": "t1",
        "text": "Je voudrais refaire ma carte grise, j'ai changé d'adresse.",
        "topic": "carte_grise",
        "destination": "ants_3400",
    },
    # answered, wrong (labelled the licence on purpose)
    {
        "id": "t2",
        "text": "Je voudrais refaire ma carte grise, j'ai déménagé.",
        "topic": "permis_conduire",
        "destination": "ants_3400",
    },
    # the likely topics, the PAN among them
    {"id": "t3", "text": UNSURE, "topic": "rdv_pan", "destination": "pan_rdv"},
    # nothing understood: "reformulez"
    {"id": "t4", "text": "zorglub wintz blurp", "topic": "armes", "destination": "mailbox"},
]


def test_the_phone_evaluation_counts_answers_likely_topics_and_requests_to_rephrase(tmp_path, python):
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in ITEMS), encoding="utf-8")
    out = subprocess.run(
        [python, str(ROOT / "bench" / "phone_eval.py"), str(path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)["calls.jsonl"]
    assert report["n"] == 4
    assert report["kinds"] == {"leaf": 2, "choices": 1, "asked": 1}
    assert report["destination"] == 0.5  # both leaves are ANTS' (destination), one topic is wrong
    assert report["topic"] == 0.25
    assert report["answered_right"] == 1.0
    assert report["choices_right_offered"] == 1.0
    assert report["served"] == 0.75
    assert report["confusions"] == {}

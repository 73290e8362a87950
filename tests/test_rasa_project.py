"""The Rasa project files: `rasa data validate` is clean, and the in-process pieces load."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rasa_data_validate_is_clean():
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "rasa"), "data", "validate", "--fail-on-warnings"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, RASA_TELEMETRY_ENABLED="false"),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "No story structure conflicts found." in out.stdout + out.stderr


def test_french_tokenizer_folds_accents_and_case_but_keeps_offsets():
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.components import FrenchTokenizer

    tokenizer = FrenchTokenizer(FrenchTokenizer.get_default_config())
    text = "Récépissé de la PRÉFECTURE d'Œuvre"
    tokens = tokenizer.tokenize(Message(data={"text": text}), "text")
    assert [t.text for t in tokens] == ["recepisse", "de", "la", "prefecture", "d", "oeuvre"]
    assert [t.lemma for t in tokens] == ["recepisse", "de", "la", "prefecture", "d", "oeuvre"]
    assert [text[t.start : t.end] for t in tokens] == ["Récépissé", "de", "la", "PRÉFECTURE", "d", "Œuvre"]


def test_action_response_validation_patch_keeps_rasa_behaviour():
    import jsonschema
    import pytest
    from rasa.core.actions.action import RemoteAction

    from bot.nlu import patches as rasa_patches

    rasa_patches.apply()
    rasa_patches.apply()  # applying twice changes nothing
    action = RemoteAction("action_route", None)
    assert (
        action._validate_action_result(
            {"events": [{"event": "slot", "name": "misses", "value": 0.0}], "responses": [{"text": "Bonjour"}]}
        )
        is True
    )
    with pytest.raises(jsonschema.ValidationError) as err:
        action._validate_action_result({"events": "not a list"})
    assert "Failed to validate Action server response from API" in err.value.message


def test_event_type_cache_keeps_rasa_answers_and_errors():
    import pytest
    from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

    from bot.nlu import patches as rasa_patches

    rasa_patches.apply()
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("user") is UserUttered  # from the cache
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("action") is ActionExecuted
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")


def test_the_rasa_patches_apply_only_to_the_version_they_were_written_for():
    import rasa
    from rasa.core.actions.action import RemoteAction

    from bot.nlu import patches

    assert rasa.__version__ == patches.RASA_VERSION == "3.6.21"
    assert patches.version_problem("3.6.21") is None
    assert patches.version_problem("3.7.0") == (
        "bot/nlu/patches.py was written for Rasa 3.6.21, but Rasa 3.7.0 is installed: the patches are not "
        "applied (the bot works, slower under load). Check that RemoteAction._validate_action_result, the "
        "event type lookup, the processor's graph runner and AvailableEndpoints.read_endpoints are unchanged "
        "in this version, then set RASA_VERSION; or install the version of requirements/lock.txt."
    )
    patches.apply()
    assert RemoteAction._validate_action_result.__module__ == "bot.nlu.patches"
    from rasa.core import processor

    assert processor.DaskGraphRunner.__name__ == "SequentialGraphRunner"

"""Documented performance patches to Rasa 3.6, applied when the chat channel is registered.

`RemoteAction._validate_action_result` calls `jsonschema.validate(result, schema)` on every
custom action call, and `jsonschema.validate` checks the schema itself against the JSON Schema
meta-schema each time before validating. In a profile of the chat server under load (py-spy, see
docs/pipeline.md) that schema check was about half of the server's time per turn. The patch
compiles the validator once from the very same schema: a valid response is accepted at once; an
invalid one goes through Rasa's own method, which raises its usual error and message.

The check of the answer also keeps each event's verdict by its JSON text (_events_kept).

The second patch keeps the event class found for each event type name (see _cache_event_types).

The fourth runs the model's prediction graph node after node in the calling thread instead of
through dask (bot/nlu/graph_runner.py): `rasa.core.processor` names `DaskGraphRunner` when it loads
the model, and no setting chooses another runner, so the processor module's name is pointed at
`SequentialGraphRunner` (a subclass keeping its nodes and contract). Applied with the first two,
before the server loads its model.

The third runs the custom actions in the Rasa process when endpoints.yml's `action_endpoint` says
`in_process: PACKAGE` (bot/nlu/in_process.py): `AvailableEndpoints.read_endpoints`, which
`rasa run` calls once to read endpoints.yml, returns that endpoint instead of the HTTP one. It
must be applied before Rasa reads the file: `python -m bot serve` does (bot/cli/main.py).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

RASA_VERSION = "3.6.21"  # the version whose internals these patches were written and measured against
_APPLIED = False
_ENDPOINTS_PATCHED = False


def version_problem(installed: str) -> str | None:
    """Why the patches must not be applied to this Rasa, or None when they fit."""
    if installed == RASA_VERSION:
        return None
    return (
        f"bot/nlu/patches.py was written for Rasa {RASA_VERSION}, but Rasa {installed} is installed: "
        "the patches are not applied (the bot works, slower under load). Check that "
        "RemoteAction._validate_action_result, the event type lookup, the processor's graph runner "
        "and AvailableEndpoints.read_endpoints are unchanged in this version, then set RASA_VERSION; "
        "or install the version of requirements/lock.txt."
    )


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    import rasa

    problem = version_problem(rasa.__version__)
    if problem:
        logger.error(problem)
        return
    import jsonschema
    from rasa.core.actions import action as rasa_action

    schema = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)  # once, at start (Rasa did it at every call)
    validator = validator_class(schema)
    is_valid = _events_kept(schema, validator_class) or validator.is_valid
    original = rasa_action.RemoteAction._validate_action_result

    def _validate_action_result(self: Any, result: dict) -> bool:
        if is_valid(result):
            return True
        return original(self, result)  # invalid: Rasa's own code raises its error and message

    rasa_action.RemoteAction._validate_action_result = _validate_action_result
    _cache_event_types()
    _run_graph_in_order()
    apply_before_start()
    _APPLIED = True


RESPONSES_SCHEMA = {"type": "array", "items": {"type": "object"}}
KEPT_EVENTS = 4096  # verdicts kept (an action's events repeat: a slot's few values, a follow-up)


def _events_kept(schema: dict, validator_class: Any) -> Any:
    """`is_valid(result)` for Rasa's action answer schema, keeping each event's verdict by its JSON
    text: the event schema's `oneOf` over every event type was most of the check, for the same few
    events at every turn. Exact: the answer's own checks are the schema's (`object`, `array` of
    `object`: jsonschema's isinstance of dict and list), an event not made of plain JSON types is
    checked each time. None when the schema is not of the shape this was written for."""
    import json

    from bot.nlu.in_process import is_plain

    props = schema.get("properties") or {}
    events = props.get("events") or {}
    if schema.keys() != {"type", "properties"} or schema["type"] != "object" or props.keys() != {"events", "responses"}:
        return None
    if events.keys() != {"type", "items"} or events["type"] != "array" or props["responses"] != RESPONSES_SCHEMA:
        return None
    item = validator_class(events["items"])
    verdicts: dict[str, bool] = {}

    def event_ok(event: Any) -> bool:
        if not is_plain(event):
            return item.is_valid(event)
        key = json.dumps(event, sort_keys=True)
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = item.is_valid(event)
            if len(verdicts) < KEPT_EVENTS:
                verdicts[key] = verdict
        return verdict

    def is_valid(result: Any) -> bool:
        if not isinstance(result, dict):
            return False
        if "responses" in result:
            responses = result["responses"]
            if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
                return False
        if "events" in result:
            listed = result["events"]
            if not isinstance(listed, list) or not all(event_ok(e) for e in listed):
                return False
        return True

    return is_valid


def apply_before_start() -> None:
    """The patch that must come before `rasa run` reads endpoints.yml (_run_actions_in_process).
    It imports no more than `rasa run` has imported by then: TensorFlow is imported later, after
    Rasa has set its log level (the other patches import it)."""
    global _ENDPOINTS_PATCHED
    if _ENDPOINTS_PATCHED:
        return
    import rasa

    if version_problem(rasa.__version__):
        return  # apply() logs it when the channels start
    _run_actions_in_process()
    _ENDPOINTS_PATCHED = True


def _cache_event_types() -> None:
    """`Event.resolve_by_type` walks every subclass of Event for each event read back from the
    tracker store (all the events of the session, at every turn). The same answer for the same
    type name is kept in a dict; unknown names still go through Rasa's method (its error or
    default)."""
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is not None:
            return cls
        cls = original(type_name, default)
        if cls is not None and cls is not default:
            found[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)


def _run_graph_in_order() -> None:
    """The processor's graph runner: SequentialGraphRunner instead of DaskGraphRunner (its subclass)."""
    from rasa.core import processor

    from bot.nlu.graph_runner import SequentialGraphRunner

    if processor.DaskGraphRunner.__name__ == "DaskGraphRunner":
        processor.DaskGraphRunner = SequentialGraphRunner


def _run_actions_in_process() -> None:
    """endpoints.yml's action endpoint read as the in-process one when it says `in_process: PACKAGE`
    (bot/nlu/in_process.py); without that key it stays Rasa's HTTP endpoint."""
    from rasa.core.utils import AvailableEndpoints

    from bot.nlu.in_process import in_process_endpoint

    original = AvailableEndpoints.read_endpoints.__func__

    def read_endpoints(cls: type, endpoint_file: str) -> Any:
        endpoints = original(cls, endpoint_file)
        endpoints.action = in_process_endpoint(endpoints.action)
        return endpoints

    AvailableEndpoints.read_endpoints = classmethod(read_endpoints)

"""A documented performance patch to Rasa 3.6, applied when the chat channel is registered.

`RemoteAction._validate_action_result` calls `jsonschema.validate(result, schema)` on every
custom action call, and `jsonschema.validate` checks the schema itself against the JSON Schema
meta-schema each time before validating. In a profile of the chat server under load (py-spy, see
docs/pipeline.md) that schema check was about half of the server's time per turn. The patch
compiles the validator once from the very same schema: a valid response is accepted at once; an
invalid one goes through Rasa's own method, which raises its usual error and message.
"""
from __future__ import annotations

from typing import Any

_APPLIED = False


def apply() -> None:
    global _APPLIED
    if _APPLIED:
        return
    import jsonschema
    from rasa.core.actions import action as rasa_action

    schema = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)  # once, at start (Rasa did it at every call)
    validator = validator_class(schema)
    original = rasa_action.RemoteAction._validate_action_result

    def _validate_action_result(self: Any, result: dict) -> bool:
        if validator.is_valid(result):
            return True
        return original(self, result)  # invalid: Rasa's own code raises its error and message

    rasa_action.RemoteAction._validate_action_result = _validate_action_result
    _APPLIED = True

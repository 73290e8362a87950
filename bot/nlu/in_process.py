"""The custom actions run in the Rasa process, without the HTTP loopback (issue 16, section 4).

Rasa 3.6 runs a custom action with `RemoteAction.run`, which builds the action call (the tracker's
state, the domain), then `await self.action_endpoint.request(json=call, method="post", ...)` and
reads the action server's JSON answer. Rasa 3.6 has no setting to run actions in its own process
(Rasa Pro 3.10 added `actions_module`), so our endpoint is an `EndpointConfig` whose `request` hands
the call to rasa_sdk's own `ActionExecutor` (what the action server runs behind its webhook) and
returns the executor's answer: same events, same messages, same errors as over HTTP.

endpoints.yml asks for it with `in_process: actions` (the package of the actions) beside the usual
`url`; `python -m bot serve` applies the patch that swaps the endpoint (bot/nlu/patches.py). A bare
`rasa run`, or another Rasa version, ignores the key and posts to the url as before.
Figures and the decision: docs/floor.md.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rasa.utils.endpoints import ClientResponseError, EndpointConfig

IN_PROCESS_KEY = "in_process"
DEFAULT_TIMEOUT_S = 300  # rasa.core.constants.DEFAULT_REQUEST_TIMEOUT, what RemoteAction passes


class _NotPlain(Exception):
    """A value the fast copy does not handle the way JSON would: the JSON round trip does."""


def _plain_copy(value: Any) -> Any:
    """Containers rebuilt, immutable scalars kept: what json.loads(json.dumps(value)) gives for
    dicts with string keys, lists, tuples (as lists), str, int, float, bool and None."""
    kind = type(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain(key)  # JSON would turn the key into a string
            out[key] = _plain_copy(item)
        return out
    if kind is list or kind is tuple:
        return [_plain_copy(item) for item in value]
    if kind is str or kind is float or kind is int or kind is bool or value is None:
        return value
    raise _NotPlain(kind)  # a subclass (numpy's float64, an enum...): as JSON writes it


def is_plain(value: Any) -> bool:
    """Made of dicts with string keys, lists, str, int, float, bool and None only (exact types)."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and is_plain(v) for k, v in value.items())
    if kind is list:
        return all(is_plain(v) for v in value)
    return kind is str or kind is float or kind is int or kind is bool or value is None


def _json_copy(value: Any) -> Any:
    """What the other side of the HTTP hop would have read: plain JSON types, nothing shared with
    the caller (an action may change its tracker without touching Rasa's, and the reverse).
    About half the CPU of the JSON round trip it equals (docs/floor.md), which stays for
    anything else."""
    try:
        return _plain_copy(value)
    except (_NotPlain, RecursionError):
        return json.loads(json.dumps(value))


class InProcessActions(EndpointConfig):
    """An action endpoint that runs rasa_sdk's ActionExecutor in this process.

    Keeps the configuration it replaces (url, headers, ...) so that Rasa's messages still name it."""

    def __init__(self, config: EndpointConfig, package: str) -> None:
        super().__init__(
            config.url,
            config.params,
            config.headers,
            config.basic_auth,
            config.token,
            config.token_name,
            config.cafile,
            **config.kwargs,
        )
        self.type = config.type
        self.package = package
        self._executor: Any = None

    def executor(self) -> Any:
        if self._executor is None:
            from rasa_sdk.executor import ActionExecutor

            executor = ActionExecutor()
            executor.register_package(self.package)
            self._executor = executor
        return self._executor

    async def request(
        self,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Any:
        """The action server's answer to `json`, as `EndpointConfig.request` returns it; its 400 and
        404 as the same ClientResponseError (RemoteAction turns a 400 into ActionExecutionRejection)."""
        from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

        call = _json_copy(kwargs.get("json"))
        timeout = kwargs.get("timeout", DEFAULT_TIMEOUT_S)
        timeout = getattr(timeout, "total", timeout)  # aiohttp.ClientTimeout or seconds
        try:
            result = await asyncio.wait_for(self.executor().run(call), timeout)
        except ActionExecutionRejection as exc:
            body = {"error": exc.message, "action_name": exc.action_name}
            raise ClientResponseError(400, "Bad Request", json.dumps(body)) from exc
        except ActionNotFoundException as exc:
            body = {"error": exc.message, "action_name": exc.action_name}
            raise ClientResponseError(404, "Not Found", json.dumps(body)) from exc
        return None if result is None else _json_copy(result)


def in_process_endpoint(config: EndpointConfig | None) -> EndpointConfig | None:
    """`config` itself, or the in-process endpoint when it has `in_process: PACKAGE`."""
    if config is None or isinstance(config, InProcessActions):
        return config
    package = config.kwargs.get(IN_PROCESS_KEY)
    if not package:
        return config
    return InProcessActions(config, str(package))

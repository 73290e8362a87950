"""What a phone webhook no longer does on every request (issue 11 / 16, docs/ivr-bench.md), and that
the caller hears the same: kept prompts answer each call at its own step, the access log is built only
when it is written, Rasa's CORS has nothing to add to Twilio's requests."""

import logging
import urllib.parse
import urllib.request

from conftest import TWILIO_TEST_TOKEN
from sanic import Sanic
from sanic.log import access_logger

from bot.web.http import quiet_access_log
from ivr.signature import HEADER, sign


def test_two_calls_at_the_same_prompt_each_get_their_own_step(phone):
    first, second = phone(), phone()
    first.start()
    second.start()
    first.press("1")
    first.press("*")  # the same menu again, one step further
    turn_first = first.press("1")
    turn_second = second.press("1")
    assert turn_second.says == first.turns[1].says == first.turns[2].says  # the same words, from the prompt kept
    assert turn_first.gather["action"].endswith("/webhooks/ivr/leaf?node=carte_grise&step=3")
    assert turn_first.redirect.endswith("/webhooks/ivr/leaf?node=carte_grise&step=3")
    assert turn_second.gather["action"].endswith("/webhooks/ivr/menu?node=vehicule&step=1")
    assert turn_second.redirect.endswith("/webhooks/ivr/menu?node=vehicule&step=1")
    assert second.press("1").gather["action"].endswith("/webhooks/ivr/leaf?node=carte_grise&step=2")


def test_a_webhook_answer_carries_no_cors_headers_even_with_an_origin(server, phone):
    call = phone()
    call.start()
    action, params = call.last.gather["action"], call.body("gather_digits", Digits="1")
    parts = urllib.parse.urlsplit(action)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        HEADER: sign(TWILIO_TEST_TOKEN, action, params),
        "Origin": "https://elsewhere.example",
    }
    body = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(f"{server.url}{parts.path}?{parts.query}", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        assert "Carte grise, tapez 1." in resp.read().decode("utf-8")
        assert [h for h in resp.headers if h.lower().startswith("access-control-")] == []


def test_the_access_log_is_built_only_when_its_logger_writes_it():
    level = access_logger.level
    try:
        access_logger.setLevel(logging.ERROR)  # Rasa's default (LOG_LEVEL_LIBRARIES)
        quiet = Sanic("ivr_cost_quiet", configure_logging=False)
        quiet_access_log(quiet)
        assert quiet.config.ACCESS_LOG is False
        access_logger.setLevel(logging.INFO)  # LOG_LEVEL_LIBRARIES=INFO: written as before
        loud = Sanic("ivr_cost_loud", configure_logging=False)
        quiet_access_log(loud)
        assert loud.config.ACCESS_LOG is True
    finally:
        access_logger.setLevel(level)

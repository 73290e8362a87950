"""Issue 13, the quick part: hostile inputs against a real server (and the masking patterns alone).

Timings are asserted only as generous bounds: a complexity check for the masking patterns (1 MB must
not cost much more than ten times 100 KB) and a liveness bound (the chat answers within 1 s while
another client sends the worst input it can).
"""
from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from bot.masking import PATTERNS, mask, prepare

# Inputs that almost match each pattern, repeated: long runs of digits, of digits and spaces, dots
# or dashes, of letters, of "@" and of letter/digit groups that look like the start of an IBAN or a
# plate. Each is cut to the wanted size.
ADVERSARIAL = {
    "digits": "1",
    "digits and spaces": "1 ",
    "digits and dots": "1.",
    "digits and dashes": "1-",
    "letters": "a",
    "letters and dots": "a.",
    "at signs": "@",
    "word then at": "a@",
    "dotted domain": "a@b.",
    "plus and digits": "+3",
    "iban-like": "FR76 ",
    "plate-like": "AB-123-",
    "capitals and digits": "A1",
    "spaces": " ",
}


def adversarial(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.mark.parametrize("label, pattern", PATTERNS, ids=[p.pattern[:30] for _, p in PATTERNS])
def test_every_masking_pattern_runs_in_linear_time(label, pattern):
    """1 MB of input that almost matches costs at most ~10x 100 KB (quadratic would be 100x)."""
    for name, unit in ADVERSARIAL.items():
        small, big = adversarial(unit, 100_000), adversarial(unit, 1_000_000)
        t_small = min(seconds(lambda: pattern.sub(label, small)) for _ in range(2))
        t_big = seconds(lambda: pattern.sub(label, big))
        assert t_big < 5.0, f"{name}: 1 MB took {t_big:.2f} s"
        assert t_big < 30 * t_small + 0.3, f"{name}: 100 KB {t_small:.3f} s, 1 MB {t_big:.3f} s: not linear"


def test_a_long_text_is_cut_before_it_is_masked():
    """The cut happens first: a 1 MB message costs what its first 2000 characters cost."""
    text = "mon numéro 06 12 34 56 78 " + adversarial("1", 1_000_000)
    masked, truncated = prepare(text, 2000)
    assert truncated is True
    assert masked == "mon numéro [téléphone]"  # the run of digits is cut at the last space
    assert seconds(lambda: prepare(text, 2000)) < 1.0
    # A number straddling the limit is masked whole before the cut: no digit of it is left.
    straddling = "a " * 994 + "06 12 34 56 78 merci"  # the number spans characters 1988-2001
    masked, truncated = prepare(straddling, 2000)
    assert truncated is True
    assert masked.endswith(" a") or masked.endswith(" a [téléphone]")
    assert not any(c.isdigit() for c in masked)

"""French writing of the figures people read (the quality indicators, the committee report, its charts):
the one place numbers are formatted for display, through Babel (the CLDR data of `fr_FR`).

- `fr_int(3194)` -> "3 194": thousands grouped by a narrow no-break space (U+202F);
- `fr_decimal(2.45)` -> "2,4" (one decimal by default): a decimal comma, the nearest tenth (halves
  to the even digit, like Babel);
- `fr_number(v)` -> an integer as `fr_int`, otherwise one decimal (the charts' axes and labels);
- `fr_percent(0.973)` -> "97,3 %": a fraction as a percentage, a no-break space (U+00A0, `PERCENT_SPACE`)
  before "%". Every percentage the product shows is written by it: the indicators, the committee
  report, the console's confidence and speech recognition (« sûr (91 %) », bot/web/console/pages.py);
  a "%" in a text of the tree or a préfecture file gets the same space on the chat page
  (bot/core/display.py `typeset`).

A unit ("j", "s", "pts") is joined by its text in bot/console_texts.yml (`quality.units`), with a
no-break space too. `for_spreadsheet(text)` writes such a figure for a CSV file that a spreadsheet
reads: digits not grouped ("3194" stays a number; "3 194" may be read as text, depending on the
spreadsheet and its version) and an ordinary space before "%" or a unit ("75,0 %", as French
spreadsheets have always been given it).
"""

from __future__ import annotations

import re

from babel.numbers import format_decimal, format_percent

LOCALE = "fr_FR"
PERCENT_SPACE = "\u00a0"  # between a number and "%": CLDR's `fr` pattern, the one space of every percentage shown
_INT = "#,##0"  # CLDR's `fr` patterns: "#,##0.###" for a number, "#,##0 %" (U+00A0) for a percentage


def _pattern(digits: int) -> str:
    return _INT + ("." + "0" * digits if digits else "")


def fr_int(n: int) -> str:
    return format_decimal(n, format=_INT, locale=LOCALE)


def fr_decimal(x: float, digits: int = 1) -> str:
    return format_decimal(x, format=_pattern(digits), locale=LOCALE)


def fr_number(value: float) -> str:
    return fr_int(int(value)) if float(value).is_integer() else fr_decimal(value)


def fr_percent(fraction: float, digits: int = 1) -> str:
    """`fraction` (0.973) as a percentage with `digits` decimals ("97,3 %"), the sign placed as CLDR's
    `fr` pattern places it: after a no-break space."""
    return format_percent(fraction, format=_pattern(digits) + PERCENT_SPACE + "%", locale=LOCALE)


_GROUPED = re.compile(r"(?<=\d)\u202f(?=\d{3}(?!\d))")
_BEFORE_UNIT = re.compile(r"(?<=\d)[\u00a0\u202f](?=\S)")


def for_spreadsheet(text: str) -> str:
    """A cell for a CSV file: its figures' digits not grouped, an ordinary space before "%" or a unit."""
    return _BEFORE_UNIT.sub(" ", _GROUPED.sub("", text))

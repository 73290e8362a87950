"""YAML read with libyaml's parser when PyYAML was built with it (the wheels on PyPI are), else PyYAML's own.

`yaml.safe_load` is PyYAML's pure-Python parser: about 80 ms for bot/tree.yml, which the server reads
several times at start-up (the tree, its texts, the calendar words); `CSafeLoader` builds the same
objects in about 7 ms (docs/floor.md, section 4). A text libyaml refuses is read again by PyYAML's own
parser: its error shows the line and a caret where libyaml's does not, and it is the one raised
(`yaml.YAMLError`, as before); where PyYAML reads what libyaml refused, its reading is returned. The
other way round, libyaml's reading stands (it takes a tab after a colon, which PyYAML refuses).
"""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """`yaml.safe_load(text)`, with libyaml's parser when there is one."""
    if SAFE_LOADER is not yaml.SafeLoader:
        try:
            return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - SafeLoader's C twin
        except (yaml.YAMLError, UnicodeEncodeError):  # libyaml's error, or text it cannot take (a lone surrogate)
            pass
    return yaml.safe_load(text)  # PyYAML's own: its reading, or its error with the line shown (not chained)

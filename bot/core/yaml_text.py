"""YAML read with libyaml's parser when PyYAML was built with it (the wheels on PyPI are), else PyYAML's own.

`yaml.safe_load` is PyYAML's pure-Python parser: about 80 ms for bot/tree.yml, which the server reads
several times at start-up (the tree, its texts, the calendar words); `CSafeLoader` builds the same
objects in about 7 ms (docs/benchmarks.md, start-up). Both raise `yaml.YAMLError` on a bad file.
"""

from __future__ import annotations

from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """`yaml.safe_load(text)`, with libyaml's parser when there is one."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader (SafeLoader or its C twin)

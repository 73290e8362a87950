"""Text helpers with one definition each: accent folding, the matching key, the e-mail address check."""

from __future__ import annotations

import re
import unicodedata

# An e-mail address as a user or a préfecture file gives it (validation, not search: the masking
# of free text has its own, looser, pattern).
EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def fold(text: str) -> str:
    """Lowercase and drop diacritics ("Récépissé" -> "recepisse"); œ/æ are expanded ("sœur" -> "soeur")."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def norm(text: str) -> str:
    """The matching key: folded, every run of other characters than a-z and 0-9 made one space."""
    return re.sub(r"[^a-z0-9]+", " ", fold(text)).strip()

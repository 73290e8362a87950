"""Find user-facing texts in code (issue 12): phone numbers, URLs, e-mail addresses and French
sentences (four words or more with a French stop word), and French words of dates, times and
waits in shorter literals (a day or month name, "à", "heures", "secondes", the hour unit " h ")
in the string literals of Python and
JavaScript, and in the text and attributes of the Jinja templates. Docstrings, comments and Jinja
comments are skipped; so are the parts of a template between {{ }} and {% %}."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

# Words that mark a French sentence (and are not English words).
FRENCH_WORDS = {
    "la", "les", "des", "du", "une", "vous", "votre", "vos", "pour", "est", "sont", "pas", "avec",
    "dans", "sur", "qui", "que", "nous", "au", "aux", "cette", "et", "à", "il", "elle", "ne", "leur",
}  # fmt: skip
# Words of a date, a time or a wait that are French only: found even alone (say_when's " à ").
FRENCH_CALENDAR = {
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "janvier", "février", "avril", "mai",
    "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre", "à", "heure", "heures", "seconde",
    "secondes", "aujourd'hui", "demain", "hier",
}  # fmt: skip
HOUR_UNIT = re.compile(r"^\s*h\s*$")  # the " h " of "9 h 30" (not a bare "h", a format letter or a key)
PHONE = re.compile(r"\b0\d(?:[ .]?\d{2}){4}\b|\b3\d \d\d\b|\b0806")
URL = re.compile(r"https?://[a-z]|\b[a-z0-9-]+\.gouv\.fr\b")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
WORD = re.compile(r"[A-Za-zÀ-ÿœŒ']+")
JS_STRING = re.compile(r"""(?<![\w$])(['"`])((?:\\.|(?!\1)[^\\\n])*)\1""")
TEMPLATE_ATTRIBUTE = re.compile(r'(?:title|aria-label|placeholder|alt|content)="([^"{]*)"')


def kinds(text: str) -> list[str]:
    """What in `text` belongs in the data files: phone, url, email, french."""
    found = []
    if PHONE.search(text):
        found.append("phone")
    if URL.search(text):
        found.append("url")
    if EMAIL.search(text):
        found.append("email")
    words = [w.lower() for w in WORD.findall(text)]
    if len(words) >= 4 and any(w in FRENCH_WORDS for w in words):
        found.append("french")
    elif any(w in FRENCH_CALENDAR for w in words) or (" " in text and HOUR_UNIT.match(text)):
        found.append("french")
    return found


def python_strings(source: str) -> Iterator[tuple[int, str]]:
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def javascript_strings(source: str) -> Iterator[tuple[int, str]]:
    source = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), source, flags=re.S)
    for lineno, line in enumerate(source.splitlines(), 1):
        if line.strip().startswith("//"):
            continue
        for match in JS_STRING.finditer(line):
            yield lineno, match.group(2)


def template_strings(source: str) -> Iterator[tuple[int, str]]:
    source = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), source, flags=re.S)
    for lineno, line in enumerate(source.splitlines(), 1):
        for match in TEMPLATE_ATTRIBUTE.finditer(line):
            yield lineno, match.group(1)
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|<[^>]*>", " ", line)
        text = " ".join(text.split())
        if text:
            yield lineno, text


def scan(root: Path) -> list[tuple[str, int, list[str], str]]:
    """(path, line, kinds, text) for every text of the code that looks like it belongs in the data."""
    sources = [(p, python_strings) for folder in ("bot", "ivr", "actions") for p in sorted((root / folder).rglob("*.py"))]
    sources += [(p, javascript_strings) for p in sorted((root / "web" / "static").rglob("*.js"))]
    sources += [(p, template_strings) for p in sorted((root / "web" / "templates").rglob("*.html"))]
    hits = []
    for path, strings in sources:
        for lineno, text in strings(path.read_text(encoding="utf-8")):
            found = kinds(text)
            if found:
                hits.append((str(path.relative_to(root)), lineno, found, " ".join(text.split())))
    return hits

"""Make noisy variants of a labelled JSONL file, for measuring robustness (never for training).

Each input line gives four variants: no accents, typos, SMS style, spoken (filler words, no
punctuation, lower case), keeping the labels. Deterministic (seeded).

    .venv/bin/python bench/noisy.py ../shared/eval/dev_questions.jsonl > /tmp/dev_noisy.jsonl
"""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata

SMS = [
    (r"\bbonjour\b", "bjr"),
    (r"\bs'il vous pla[iî]t\b", "svp"),
    (r"\bpour\b", "pr"),
    (r"\bquoi\b", "koi"),
    (r"\bqu'est-ce que\b", "kesk"),
    (r"\bje suis\b", "jsui"),
    (r"\bc'est\b", "c"),
    (r"\bbeaucoup\b", "bcp"),
    (r"\bquand\b", "qd"),
    (r"\bdans\b", "ds"),
    (r"\bavec\b", "avc"),
    (r"\bque\b", "ke"),
    (r"\bqui\b", "ki"),
    (r"\btoujours\b", "tjrs"),
    (r"\bvous\b", "vs"),
    (r"\best-ce\b", "es ce"),
    (r"\bje\b", "j"),
]
FILLERS = ["euh", "alors", "bah", "voilà", "en fait", "oui bonjour"]


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def typos(text: str, rng: random.Random) -> str:
    words = text.split()
    for _ in range(max(1, len(words) // 6)):
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) < 4:
            continue
        j = rng.randrange(1, len(w) - 1)
        op = rng.choice(["drop", "swap", "double"])
        if op == "drop":
            w = w[:j] + w[j + 1 :]
        elif op == "swap":
            w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
        else:
            w = w[:j] + w[j] + w[j:]
        words[i] = w
    return " ".join(words)


def sms(text: str) -> str:
    text = strip_accents(text.lower())
    for pattern, repl in SMS:
        text = re.sub(pattern, repl, text)
    return re.sub(r"[?!.]", "", text)


def spoken(text: str, rng: random.Random) -> str:
    words = re.sub(r"[^\w' -]", " ", text.lower()).split()
    out = [rng.choice(FILLERS)]
    for i, w in enumerate(words):
        out.append(w)
        if i and i % 5 == 0 and rng.random() < 0.5:
            out.append(rng.choice(FILLERS[:3]))
    return " ".join(out)


def main() -> int:
    rng = random.Random(20261127)
    for line in open(sys.argv[1], encoding="utf-8"):
        if not line.strip():
            continue
        item = json.loads(line)
        for kind, text in (
            ("no_accents", strip_accents(item["text"])),
            ("typos", typos(item["text"], rng)),
            ("sms", sms(item["text"])),
            ("spoken", spoken(item["text"], rng)),
        ):
            print(json.dumps(dict(item, id=f"{item.get('id')}-{kind}", text=text, variant=kind), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

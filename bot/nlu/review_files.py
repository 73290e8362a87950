"""The files of the review loop (bot/nlu/review.py): the sentences of data/*.yml, the review file in
Rasa's format (with the store it was exported from), the reviewed sentences kept to measure (JSON lines,
each with that store), the digests of what a model was taught kept beside it, and their locks. Part of
bot/nlu/review.py, which re-exports what the others import.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from bot.core import yaml_text
from bot.core.masking import PLACEHOLDER_RE
from bot.core.text import norm
from bot.core.texts import console_say

logger = logging.getLogger(__name__)


def existing_examples(data_dir: Path, skip: Path | None = None) -> set[str]:
    texts: set[str] = set()
    for path in sorted(data_dir.glob("*.yml")):
        if skip is None or path.resolve() != skip.resolve():
            texts |= file_examples(path)
    return texts


def file_examples(path: Path) -> set[str]:
    """The examples of one file in Rasa's NLU format, folded (none when it is missing)."""
    if not path.exists():
        return set()
    return {norm(sentence) for _, sentence in read_examples(path.read_text(encoding="utf-8"))}


MARK = "# store: "  # the review file's line naming the store it was exported from (store_mark)


def store_mark(where: Path | str) -> str:
    """A short name of a store (a Store's `path`: the SQLite file, or the PostgreSQL URL read as libpq reads
    it: user, hosts and ports (5432 unsaid), database, service and search_path, the query's before the
    URL's, without the password or other options): the retention purge rewrites only what was exported
    from its own store."""
    if isinstance(where, str) and "://" in where:
        try:
            where = _postgres_identity(where)
        except Exception:  # noqa: BLE001 - libpq refused it (then the store would not open): the URL itself
            pass
    else:
        where = str(Path(where).resolve())
    return hashlib.sha256(where.encode("utf-8")).hexdigest()[:12]


_SEARCH_PATH = re.compile(r"(?:^|\s)(?:-c\s*|--)search_path\s*=\s*(\S+)")


def _postgres_identity(url: str) -> str:
    from psycopg2.extensions import parse_dsn  # libpq's own reading of the URL (the query's before the URL's)

    dsn = parse_dsn(url)
    hosts = [h.lower() if not h.startswith("/") else h for h in (dsn.get("host") or "").split(",")]
    ports = [str(int(p)) if p.strip() else "5432" for p in (dsn.get("port") or "").split(",")]
    ports = ports * len(hosts) if len(ports) == 1 else ports  # one port for every host, or one each
    paths = _SEARCH_PATH.findall(dsn.get("options") or "")
    path = paths[-1].split(",")[0] if paths else ""  # the last one set wins, as in PostgreSQL
    path = path.strip('"') if path.startswith('"') else path.lower()  # unquoted names are folded
    where = ",".join(f"{h}:{p}" for h, p in zip(hosts, ports))
    return json.dumps([dsn.get("user", ""), where, dsn.get("dbname", ""), dsn.get("service", ""), path])


def file_mark(path: Path) -> str | None:
    """The store a review file was exported from (its MARK line), or None (written by hand, or by a
    version before 2026-12-06)."""
    with open(path, encoding="utf-8") as f:
        for _, line in zip(range(5), f):
            if line.startswith(MARK):
                return line[len(MARK) :].strip()
    return None


_MARKUP = re.compile(r"[\[\]{}]")  # Rasa's entity markup ("[text](entity)", "[text]{...}"): never a sentence's


def clean_sentence(text: str) -> str:
    """A sentence as it is written to the review file: without the masking's placeholders (the
    tokenizer drops them at training: scoring.without_placeholders) nor brackets and braces, which
    Rasa reads as entity markup (one of the public's "[carte grise]{perdue}" stopped every training)."""
    return " ".join(_MARKUP.sub(" ", PLACEHOLDER_RE.sub(" ", str(text))).split())


def measures(text: str, every: int) -> bool:
    """Whether a taught sentence is kept to measure the assistant instead of teaching it: one in `every`
    (`console.measure_every`; 0, never), chosen by its folded text, so that a sentence stays on its side
    from one export to the next whatever was purged meanwhile, and its copies with it."""
    return every > 0 and int(hashlib.sha256(norm(text).encode("utf-8")).hexdigest(), 16) % every == 0


def write_review(out: Path, by_intent: dict[str, list[str]], mark: str | None = None) -> None:
    """The review file, in Rasa's format, checked with Rasa's own reader before it replaces the last one;
    `mark`: the store its sentences come from (store_mark), on a line of its own."""
    lines = [
        'version: "3.1"',
        "# Written by `python -m bot review export` from the agents' reviews: do not edit by hand.",
        *([f"{MARK}{mark}"] if mark else []),
        "nlu:",
    ]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {t}" for t in sorted(by_intent[intent]))
    if not by_intent:
        lines[-1] = "nlu: []"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yaml_text.safe_load(tmp.read_text(encoding="utf-8"))  # never leave a file Rasa cannot read
        from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

        RasaYAMLReader().read(tmp)  # Rasa's own reader, as the training will read it
        tmp.replace(out)
    except BaseException:  # a disk full midway: no half-written file left on it
        tmp.unlink(missing_ok=True)
        raise


def write_measured(path: Path, items: list[dict]) -> None:
    """The reviewed sentences that measure, as JSON lines (eval_sets), readable by the owner only (the
    public's words, masked): rewritten whole at each export, so a review purged leaves it with its
    sentence; none, no file."""
    if not items:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(item | {"kind": "user_written"}, ensure_ascii=False) + "\n" for item in items)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sentence_key(text: str) -> str:
    """A taught sentence as the export writes it, folded: how its copies are compared."""
    return norm(clean_sentence(text))


def digest(text: str) -> str:
    """A taught sentence's digest, as kept beside a model."""
    return hashlib.sha256(sentence_key(text).encode("utf-8")).hexdigest()


def taught_beside(model: Path) -> Path:
    """What the agents taught a model, kept beside it as digests, never as sentences (the retention purge
    could not reach them there: docs/privacy.md): models/aiguillage.taught.json for models/aiguillage.tar.gz,
    models/aiguillage.previous.taught.json for the model it replaced."""
    return model.with_name(model.name.removesuffix(".tar.gz") + ".taught.json")


def legacy_beside(model: Path) -> Path:
    """The sentences themselves, copied beside a model until 2026-12-06 (models/aiguillage.review.yml):
    read when no digests are there, removed when the model's digests are written."""
    return model.with_name(model.name.removesuffix(".tar.gz") + ".review.yml")


def review_digests(text: str) -> dict[str, str]:
    """{digest of each sentence: its intent} of a review file's text."""
    return {digest(sentence): intent for intent, sentence in read_examples(text)}


def remember_taught(review: bytes | None, model: Path) -> None:
    """Beside `model`, the digests of the review file it was trained on (`review`: its bytes; None: it
    had none: no digests, `{}`). The sentences' own copies that earlier versions kept beside it and beside
    the model it replaced go (convert_legacy)."""
    install_file(_digests_json(review), taught_beside(model))
    convert_legacy(model)  # (the model's own copy is older than the digests just written: it only goes)


def convert_legacy(model: Path) -> None:
    """The sentences an earlier version copied beside `model` and the model it replaced become digests (the
    newer of the copy and the digests wins) and go, whether or not a training runs (`make setup`); a copy
    that cannot be read or removed is said, and the rest goes on."""
    for beside in (model, previous_of(model)):
        legacy, digests = legacy_beside(beside), taught_beside(beside)
        try:
            if not legacy.exists():
                continue
            if not digests.exists() or digests.stat().st_mtime < legacy.stat().st_mtime:
                try:
                    install_file(_digests_json(legacy.read_bytes()), digests)
                except (ValueError, yaml.YAMLError, AttributeError, TypeError, KeyError):
                    install_file(_digests_json(None), digests)
            legacy.unlink()
        except OSError as exc:
            logger.warning("the sentences copied beside %s stay in %s: %s", beside, legacy, exc)


def _digests_json(review: bytes | None) -> bytes:
    digests = review_digests(review.decode("utf-8")) if review is not None else {}
    return json.dumps(digests, sort_keys=True, indent=0).encode("utf-8")


def taught_digests(model: Path, log) -> dict[str, str] | None:
    """What the agents taught `model`, {digest: intent} (its digests, or the sentences copied beside it by
    an earlier version; none, {}); None when that file cannot be read (said: the gate then cannot leave
    them out)."""
    path = taught_beside(model)
    try:
        if path.exists():
            return {str(k): str(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        legacy = legacy_beside(model)
        if legacy.exists():
            path = legacy
            return review_digests(legacy.read_text(encoding="utf-8"))
        return {}
    except (OSError, ValueError, yaml.YAMLError, AttributeError, TypeError, KeyError) as exc:
        log(console_say("retrain.unreadable_review", file=path, error=exc))
        return None


def install_file(source: bytes | Path, path: Path) -> None:
    """Write a model or its review file whole or not at all (a full disk leaves the old one)."""
    part = path.with_name(path.name + ".part")
    try:
        if isinstance(source, bytes):
            part.write_bytes(source)
        else:
            shutil.copyfile(source, part)
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def previous_of(model: Path) -> Path:
    """Where a retrain keeps the model it replaced (models/aiguillage.previous.tar.gz)."""
    return model.with_name(model.name.split(".")[0] + ".previous.tar.gz")


def refused_beside(review_file: Path) -> Path:
    """Where a refused retrain sets its review file aside (var/nlu_review.refused.yml beside data/)."""
    return review_file.parent.parent / "var" / "nlu_review.refused.yml"


def read_examples(text: str) -> list[tuple[str, str]]:
    """(intent, sentence) of a file's text in Rasa's NLU format, in its order (a block of another kind, a
    synonym or a lookup table, gives its examples with no intent: "")."""
    out = []
    for block in (yaml_text.safe_load(text) or {}).get("nlu") or []:
        for line in str(block.get("examples") or "").splitlines():
            if line.strip().startswith("- "):
                out.append((str(block.get("intent") or ""), line.strip()[2:]))
    return out


@contextmanager
def one_writer(review_file: Path, optional: bool = False, wait_s: float | None = None) -> Iterator[bool]:
    """One writer of a review file at a time (an export, a refused retrain's set-aside, the retention
    purge): a purge that read the file before an export replaced it would write back the old sentences
    without the new ones. The lock is a hidden empty file beside it, opened read-only and readable by all
    (the service's user and an operator may both take it). `optional`: where no lock can be made, yield
    False instead of raising. `wait_s`: at most so long, then TimeoutError (the purge: an export paused
    by hand must not hold every night's purge)."""
    lock = review_file.with_name("." + review_file.name + ".lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        if not optional:
            raise
        yield False  # no lock can be made there (a read-only folder): the caller reads only
        return
    try:
        try:
            os.fchmod(fd, 0o644)  # the umask (the unit's 0077) would leave it to its maker alone
        except OSError:
            pass  # another user's lock: readable already
        _flock(fd, lock, wait_s)
        yield True
    finally:
        os.close(fd)


def _flock(fd: int, lock: Path, wait_s: float | None) -> None:
    if wait_s is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{lock} held for more than {wait_s:g} s") from None
            time.sleep(0.1)

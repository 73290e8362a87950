"""The endpoints file `python -m bot serve` hands to `rasa run`.

endpoints.yml is read by Rasa with `${VAR}` substitution and no conditionals, and describes one
process on one SQLite file. With DATABASE_URL (Rasa's tracker store on PostgreSQL) or LOCK_STORE_URL
(Rasa's lock store on Redis) set, `serve` writes a copy of it under var/endpoints/ with those two
sections changed, and runs Rasa on the copy. Secrets stay out of the file: it names them as
`${DATABASE_URL}` and `${AIGUILLAGE_LOCK_STORE_PASSWORD}`, which Rasa reads from the environment.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import MutableMapping
from pathlib import Path

import yaml

from bot import settings
from bot.core import yaml_text
from bot.core.config import ROOT

GENERATED = ROOT / "var" / "endpoints"
LOCK_PASSWORD = "AIGUILLAGE_LOCK_STORE_PASSWORD"


def cluster_endpoints(endpoints: dict, env: MutableMapping[str, str]) -> dict | None:
    """endpoints.yml's content changed for DATABASE_URL / LOCK_STORE_URL, or None when neither is set
    (then endpoints.yml is used as it is). Puts the normalised DATABASE_URL and the lock store's
    password in `env`, where Rasa's `${...}` finds them."""
    url, lock = settings.database_url(env), settings.lock_store(env)
    if url is None and lock is None:
        return None
    out = dict(endpoints)
    if url is not None:
        env["DATABASE_URL"] = url
        tracker = dict(out.get("tracker_store") or {})
        tracker.pop("db", None)
        # Rasa passes `url` as `host`, and get_db_url takes a whole URL there as it is (tracker_store.py).
        tracker.update(dialect="postgresql", url="${DATABASE_URL}")
        out["tracker_store"] = tracker
    if lock is not None:
        store: dict = {
            "type": "bot.nlu.lock_store.RedisTicketLockStore",
            "url": lock.host,
            "port": lock.port,
            "db": lock.db,
            "key_prefix": "aiguillage",
        }
        if lock.password is not None:
            env[LOCK_PASSWORD] = lock.password
            store["password"] = "${" + LOCK_PASSWORD + "}"
        out["lock_store"] = store
    return out


def endpoints_option(rasa_args: list[str], env: MutableMapping[str, str] | None = None) -> list[str]:
    """`rasa run`'s options, with `--endpoints` pointing to the generated file when DATABASE_URL or
    LOCK_STORE_URL is set (written once per content: several processes may start together)."""
    env = os.environ if env is None else env
    args = list(rasa_args)
    source = "endpoints.yml"
    for i, arg in enumerate(args):
        if arg == "--endpoints" and i + 1 < len(args):
            source = args[i + 1]
        elif arg.startswith("--endpoints="):
            source = arg.split("=", 1)[1]
    content = cluster_endpoints(yaml_text.safe_load(Path(source).read_text(encoding="utf-8")) or {}, env)
    if content is None:
        return args
    text = "# Written by `python -m bot serve` from " + source + " (bot/cli/endpoints.py): do not edit.\n"
    text += yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
    GENERATED.mkdir(parents=True, exist_ok=True)
    target = GENERATED / f"endpoints-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yml"
    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    args = [
        a
        for i, a in enumerate(args)
        if not (a == "--endpoints" or a.startswith("--endpoints=") or (i and args[i - 1] == "--endpoints"))
    ]
    return [*args, "--endpoints", str(target)]

"""Mystery-call audit: `python -m tools.ivr audit SCENARIOS.yml` plays scripted calls through the
simulator against a running server and prints a pass/fail table (exit code 1 on any failure).

A scenario file:

    prefecture: cantal            # the préfecture the server must serve (checked on the welcome)
    scenarios:
      - name: "keypad: carte grise"
        now: "2026-03-10T10:00"   # optional, Paris time; needs a server with IVR_TEST_CLOCK=1 or IVR_LOCAL_DEV=1
        caller: "+33611220066"    # optional: the number the call comes from (the simulator's own otherwise)
        steps:                    # what the caller does, in order
          - "1"                   # a key: 0-9, * or #
          - say: "ma carte grise" # a sentence (speech)
          - silence               # nothing
          - record: "Bonjour..."  # leave a voicemail (the text becomes its transcription)
          - line: busy            # a transfer ends: completed (default) | busy | no-answer
        max_steps: 2              # optional: the expected node must be reached within this many steps
        expect:                   # every key optional
          node: carte_grise       # the last leaf reached
          destination: ants_3400  # that leaf's destination in the tree
          number: "NN NN"         # heard (as written, or said group by group) or dialled
          transfer: false         # false: never dialled; or the number dialled, as written in the file
          voicemail: armes        # the mailbox a message was left for; false: none
          says: "text"            # a text heard somewhere in the call
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.core import yaml_text
from bot.core.config import e164, load_prefecture
from bot.core.tree import load_tree, render
from ivr.twiml import Speaker
from tools.ivr.simulate import Call, SimulatorError, Turn


@dataclass
class Result:
    name: str
    steps: str
    expected: str
    got: str
    ok: bool
    problems: list[str] = field(default_factory=list)


def _fmt(d: dict, width: int = 32) -> str:
    def show(v) -> str:
        v = "-" if v is False or v is None else str(v)
        return v if len(v) <= width else v[: width - 1] + "…"

    return " ".join(f"{k}={show(v)}" for k, v in d.items())


class Auditor:
    def __init__(self, url: str, token: str, public_url: str | None = None, prefecture: str | None = None):
        self.url, self.token, self.public_url = url, token, public_url
        self.tree = load_tree()
        self.pref = load_prefecture(prefecture) if prefecture else None
        self.speaker = Speaker(self.tree, self.pref or load_prefecture(), "")  # only for spoken numbers

    def heard(self, number: str, turns: list[Turn]) -> bool:
        groups = self.speaker.spoken_groups(number)
        for turn in turns:
            if turn.dial and turn.dial == e164(number):
                return True
            if any(number in s or ", ".join(groups) in s for s in turn.says):  # as written, or said in an answer
                return True
            for i in range(len(turn.says) - len(groups) + 1):
                if turn.says[i : i + len(groups)] == groups:
                    return True
        return False

    def play(self, sc: dict) -> Result:
        name = str(sc.get("name") or "?")
        steps = list(sc.get("steps") or [])
        expect = dict(sc.get("expect") or {})
        max_steps = int(sc.get("max_steps") or len(steps))
        caller = {"caller": str(sc["caller"])} if sc.get("caller") else {}
        call = Call(self.url, self.token, public_url=self.public_url, now=sc.get("now"), **caller)
        got: dict = {"node": None, "destination": None, "number": None, "transfer": False, "voicemail": False}
        problems: list[str] = []
        reached_at = None
        voicemail_box = None
        try:
            first = call.start()
            if self.pref is not None:
                pname = render("{prefecture.name}", self.pref)
                if pname not in first.text:
                    raise SimulatorError(f"the server does not serve the {pname}")
            for i, step in enumerate(steps, 1):
                last = call.last
                if isinstance(step, (int, str)) and str(step) not in ("silence",):
                    for key in str(step):
                        call.press(key)
                elif step == "silence" or (isinstance(step, dict) and "silence" in step):
                    call.silence()
                elif isinstance(step, dict) and "say" in step:
                    call.say(str(step["say"]), float(step.get("confidence", 0.9)))
                elif isinstance(step, dict) and "record" in step:
                    if last is not None and last.record is not None:
                        voicemail_box = last.query.get("mailbox")
                    call.record(step["record"] if step["record"] is not None else None)
                    if step["record"] is None:
                        voicemail_box = None
                elif isinstance(step, dict) and "line" in step:
                    call.dial_ended(str(step["line"]))
                else:
                    raise SimulatorError(f"step {i}: unknown step {step!r}")
                turn = call.last
                node = turn.node if (turn.route in ("leaf", "pan") or turn.dial or turn.record is not None) else None
                if node and node in self.tree.nodes and self.tree.node(node).destination:
                    got["node"] = node
                    got["destination"] = self.tree.node(node).destination
                    if reached_at is None and node == expect.get("node"):
                        reached_at = i
                if turn.dial and not got["transfer"]:
                    got["transfer"] = turn.dial
                if call.ended:
                    break
            if voicemail_box and call.recordings:
                got["voicemail"] = voicemail_box
        except SimulatorError as exc:
            problems.append(str(exc))
        finally:
            if call.turns:
                call.hangup()

        if "number" in expect and expect["number"]:
            got["number"] = expect["number"] if self.heard(str(expect["number"]), call.turns) else None
        for key in ("node", "destination", "voicemail"):
            if key in expect and (expect[key] or False) != (got[key] or False):
                problems.append(f"{key}: expected {expect[key]}, got {got[key]}")
        if "number" in expect and expect["number"] and not got["number"]:
            problems.append(f"number {expect['number']} neither heard nor dialled")
        if "transfer" in expect:
            want = e164(str(expect["transfer"])) if expect["transfer"] else False
            if want != got["transfer"]:
                problems.append(f"transfer: expected {want or 'none'}, got {got['transfer'] or 'none'}")
        if "says" in expect and not any(str(expect["says"]) in t.text for t in call.turns):
            problems.append(f"never heard: {expect['says']}")
        if expect.get("node") and reached_at is not None and reached_at > max_steps:
            problems.append(f"{expect['node']} reached after {reached_at} steps (max {max_steps})")
        shown_steps = f"{reached_at or len(steps)}/{max_steps}"
        got_shown = {k: got[k] for k in ("node", "destination", "number", "transfer", "voicemail")}
        return Result(name, shown_steps, _fmt(expect), _fmt(got_shown), not problems, problems)


def table(results: list[Result]) -> str:
    headers = ["scenario", "steps", "expected", "got", "result"]
    rows = [[r.name, r.steps, r.expected, r.got, "PASS" if r.ok else "FAIL"] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    for row, r in zip(rows, results):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        for p in r.problems:
            lines.append(f"    ! {p}")
    passed = sum(r.ok for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


def run(path: str, url: str, token: str, public_url: str | None = None, out=sys.stdout) -> int:
    try:
        data = yaml_text.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        out.write(f"{path}: cannot read the scenarios ({exc})\n")
        return 2
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        out.write(f"{path}: expected a mapping with a 'scenarios' list\n")
        return 2
    auditor = Auditor(url, token, public_url, data.get("prefecture"))
    results = [auditor.play(sc) for sc in data["scenarios"]]
    out.write(f"Mystery calls: {path} against {url}\n")
    out.write(table(results) + "\n")
    return 0 if all(r.ok for r in results) else 1

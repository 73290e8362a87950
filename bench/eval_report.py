"""Write docs/eval.md: routing accuracy on every evaluation set, noisy variants, k-fold CV, speed.

    .venv/bin/python bench/eval_report.py [--folds 5] [--no-speed]

Sets: the shared dev set (FAQ-style questions), the shared messages written by the public, this
repository's own files (`eval/own_public_voice.jsonl`, `eval/public_stories.jsonl`, and `eval/heldout.jsonl`), each
with its noisy variants (bench/noisy.py: no accents, typos, SMS style, spoken fillers), and a
stratified k-fold cross-validation of `data/`. Scores come from bench/nlu_bench.py (the components of
config.yml and the router of the chat, trained in process: the same figures as `python -m bot eval`
with the trained model); the per-topic table from `python -m bot eval --json` on the dev set.
None of these files is ever used as training data, and only summaries are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scipy.stats import binomtest

from bot.nlu import eval_sets

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
# Who wrote the repository's own evaluation files, printed under the table.
HANDS = [
    "`eval/own_public_voice.jsonl` was written for this repository by the author of",
    "`data/nlu_public_voice.yml`: the same hand, so it flatters the model; the shared sets and the",
    "maintainers' hidden sets are the ones to trust. `eval/public_stories.jsonl` was written before",
    "`data/nlu_public_stories.yml`, by the author of that file: less flattering, but the same hand too.",
    "`eval/public_letters.jsonl` (the border of `hors_perimetre`) was written by a fourth hand, whose",
    "training examples were then left out (docs/pipeline.md, fourth pass): no example in `data/` was",
    "written against it. `eval/faq_titles.jsonl` (questions titled as an administration's FAQ) was",
    "written by a fifth hand that read neither `data/` nor any evaluation file; 10 of its 160 lines came",
    "out as near copies of training examples written earlier, and were dropped (docs/pipeline.md).",
    "`eval/public_testimonies.jsonl` (fragments of testimonies: told, not asked) was written by a sixth",
    "hand that read neither `data/` nor any evaluation file, at the same time as, and apart from, the",
    "author of `data/nlu_public_testimonies.yml` (docs/pipeline.md, twelfth pass).",
    "`eval/short_requests.jsonl` (short requests, typed or spoken, with or without a subject) was written",
    "by a seventh hand that read neither `data/` nor any evaluation file, apart from the author of",
    "`data/nlu_vague.yml`; 12 of its 120 lines came out as near copies of training examples and were",
    "dropped, and 5 that ask about a file without naming its document (docs/pipeline.md, fourteenth pass).",
    "`eval/public_appointments.jsonl` (appointment and website words about every procedure) was written by",
    "an eighth hand that read neither `data/` nor any evaluation file, at the same time as, and apart from,",
    "training examples that were then left out (docs/pipeline.md, fifteenth pass): none of `data/` was",
    "written against it. `eval/public_forums.jsonl` (posts on public help forums: long, several paragraphs,",
    "context first) was written by a ninth hand that read neither `data/` nor any evaluation file; no example",
    "of `data/` was written against it (docs/pipeline.md, seventeenth pass). `eval/public_exams.jsonl` (the",
    "driving test told as a grievance, and other bodies' near misses) was written by a tenth hand that read",
    "nothing of the repository, apart from the author of `data/nlu_exams.yml`; it decided whether that data",
    "was kept (docs/pipeline.md, twentieth pass): a development set since. `eval/public_waits.jsonl` (one's",
    "own file waiting, told as a grievance, against complaints about the service) was written by an",
    "eleventh hand that read only `bot/tree.yml`, apart from training examples that were then left out; it",
    "decided a router change (docs/pipeline.md, twenty-first pass): a development set since.",
    "`eval/phone_speech.jsonl` (what callers say at the phone menu's spoken prompt, as Twilio's French speech",
    "recognition writes it) was written by a twelfth hand that read neither `data/` nor any evaluation file;",
    "4 of its 120 lines came out as near copies of training examples and were dropped; no example of `data/`",
    "was written against it (docs/pipeline.md, twenty-third pass). `eval/public_hard_writing.jsonl` (French",
    "written by people for whom writing it is hard: second-language and low-literacy writers) was written by a",
    "thirteenth hand that read neither `data/` nor any evaluation file; 2 of its 120 lines came out as near",
    "copies of training examples and were dropped; no example of `data/` was written against it",
    "(docs/pipeline.md, twenty-fourth pass). `eval/public_intermediaries.jsonl` (messages written for someone",
    "else or as professionals: social workers, relatives, garages, driving schools, employers, lawyers,",
    "elected officials) was written by a fourteenth hand that read neither `data/` nor any evaluation file;",
    "none of its 120 lines came out as a near copy of a training example; training examples written in the same",
    "genre by a fifteenth hand were measured against every set and not kept (docs/pipeline.md, twenty-sixth pass).",
    "`eval/public_emails.jsonl` (messages as e-mails, the website's contact form and social media bring them:",
    "subject lines, form fields, signatures, mentions) was written by a sixteenth hand that read nothing of",
    "the repository; none of its 120 lines came out as a near copy of a training example; no example of",
    "`data/` was written against it (`eval/README.md`).",
]

# Under the title and date: what the table's columns say.
INTRO = [
    "of `config.yml` trained on `data/`, through the router of the chat (NLU, then the fallback ladder;",
    'the destination of a `clarify` is the bot\'s best guess). "Answered right": among the first turns',
    "the bot answers directly (action `answer`), the share sent to the right destination; the others",
    'get a clarifying question with the likely topics as buttons. "Asked: right offered": among',
    "those clarifying questions, the share whose buttons include the right topic or destination (the",
    'button to a person not counted). "Served": the first turns that either answer right or offer',
    "the right button, out of all. In brackets, the destination's 95 % interval (Wilson score): where",
    "the rate on messages like the set's may lie. On sets of 40 to 257 messages it is 0.04 to 0.25 wide,",
    "mostly wider than the 0.03 gap the issue allows between sets: a smaller difference between two rows,",
    "or between two runs, cannot be told from chance. The noisy variants (four spellings of each question)",
    "are not independent messages: no interval.",
    "",
]

# The shared dev sets (AIGUILLAGE_DEV_EVAL: `../shared/eval` when the Makefile finds it), then ours.
SHARED_LABELS = (
    "dev (`../shared/eval/dev_questions.jsonl`)",
    "written by the public (`../shared/eval/dev_user_written.jsonl`)",
)
REVIEWED_LABEL = (
    "the public's words, reviewed by this deployment's agents (`AIGUILLAGE_REVIEWED_SET`, `var/public_reviewed.jsonl`)"
)
OWN = [
    ("own, public's voice (`eval/own_public_voice.jsonl`)", ROOT / "eval" / "own_public_voice.jsonl"),
    ("held-out (`eval/heldout.jsonl`)", ROOT / "eval" / "heldout.jsonl"),
    ("own, public's stories (`eval/public_stories.jsonl`)", ROOT / "eval" / "public_stories.jsonl"),
    ("own, public's letters (`eval/public_letters.jsonl`)", ROOT / "eval" / "public_letters.jsonl"),
    ("own, FAQ titles (`eval/faq_titles.jsonl`)", ROOT / "eval" / "faq_titles.jsonl"),
    ("own, testimonies (`eval/public_testimonies.jsonl`)", ROOT / "eval" / "public_testimonies.jsonl"),
    ("own, short requests that name their subject (`eval/short_requests.jsonl`)", ROOT / "eval" / "short_requests.jsonl"),
    ("own, appointments and websites (`eval/public_appointments.jsonl`)", ROOT / "eval" / "public_appointments.jsonl"),
    ("own, forum posts (`eval/public_forums.jsonl`)", ROOT / "eval" / "public_forums.jsonl"),
    ("own, the driving test (`eval/public_exams.jsonl`)", ROOT / "eval" / "public_exams.jsonl"),
    ("own, files waiting, told as grievances (`eval/public_waits.jsonl`)", ROOT / "eval" / "public_waits.jsonl"),
    ("own, said at the phone menu (`eval/phone_speech.jsonl`)", ROOT / "eval" / "phone_speech.jsonl"),
    ("own, hard-to-write French (`eval/public_hard_writing.jsonl`)", ROOT / "eval" / "public_hard_writing.jsonl"),
    (
        "own, for someone else or as professionals (`eval/public_intermediaries.jsonl`)",
        ROOT / "eval" / "public_intermediaries.jsonl",
    ),
    ("own, e-mails, contact form, social media (`eval/public_emails.jsonl`)", ROOT / "eval" / "public_emails.jsonl"),
]


def bench_json(script: str, *args: str) -> dict:
    """What bench/`script` prints with --json (bench/nlu_bench.py, bench/phone_eval.py), run by the venv's Python."""
    out = subprocess.run(
        [str(PY), str(ROOT / "bench" / script), *args, "--json"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def nlu_bench(*args: str) -> dict:
    return bench_json("nlu_bench.py", *args)


def dev_per_topic(path: Path) -> dict:
    """Per-topic figures and confusion counts of `python -m bot eval` (the misses are not kept)."""
    out = subprocess.run(
        [str(PY), "-m", "bot", "eval", str(path), "--json"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout)
    return {
        "per_topic": report["per_topic"],
        "confusions": report["confusions"],
        "destination_accuracy": report["destination_accuracy"],
    }


def route_speed(n: int = 2000) -> tuple[float, float]:
    """Questions per second of one `python -m bot route --jsonl` once loaded, in wall-clock time and in
    CPU time of the process (the second is the fair one on a shared machine).

    Timed inside one run: from the first block of answers read on its stdout (the model is loaded by
    then) to the last, the process's CPU time read from /proc at both moments. (Before, two runs of 1
    and n questions were subtracted: their load times differ by seconds on a shared machine, which
    moved the figure by a third.) The questions are the examples of data/ in a fixed shuffled order:
    the mix of one-line questions and several-sentence stories that the bot is built for."""
    sys.path.insert(0, str(ROOT / "bench"))
    from nlu_bench import training_examples

    texts = [t for t, _ in training_examples()]
    random.Random(20261201).shuffle(texts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "questions.jsonl"
        path.write_text("".join(json.dumps({"text": texts[i % len(texts)]}) + "\n" for i in range(n)))
        with path.open() as stdin:
            proc = subprocess.Popen(
                [str(PY), "-m", "bot", "route", "--jsonl"],
                cwd=ROOT,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            first = proc.stdout.read1(1 << 16)  # the first block of answers: loaded
            start, cpu_start, seen = time.perf_counter(), _cpu_seconds(proc.pid), first.count(b"\n")
            rest = proc.stdout.read()
            end, cpu_end = time.perf_counter(), _cpu_seconds(proc.pid)  # a zombie until wait(): /proc still has it
            answered = seen + rest.count(b"\n")
            if proc.wait() != 0 or answered != n:
                raise RuntimeError(f"route --jsonl answered {answered} of {n} questions")
    timed = n - seen
    return timed / max(end - start, 1e-9), timed / max(cpu_end - cpu_start, 1e-9)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def fmt_actions(actions: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(actions.items()))


def destination(accuracy: float, n: int, noisy: bool = False) -> str:
    """A set's destination accuracy with its 95 % Wilson score interval (scipy): the range in which the
    rate on messages like the set's may lie. None for noisy variants: four spellings of each question
    are not independent messages."""
    if noisy:
        return fmt(accuracy)
    ci = binomtest(round(accuracy * n), n).proportion_ci(confidence_level=0.95, method="wilson")
    return f"{fmt(accuracy)} ({ci.low:.3f}-{ci.high:.3f})"


def row(label: str, r: dict, destination: str) -> str:
    """One line of the table: a set's (or the CV's) figures."""
    return (
        f"| {label} | {r['n']} | {destination} | {fmt(r['topic_accuracy'])} | {fmt(r['answered_right'])} "
        f"| {fmt(r['asked_offered_right'])} | {fmt(r['served_first_turn'])} | {fmt_actions(r['actions'])} |"
    )


def phone_table(present: list[tuple[str, Path]]) -> list[str]:
    """The sets said at the phone's welcome (bench/phone_eval.py: a real server, Twilio's signed bodies)."""
    report = bench_json("phone_eval.py", *[str(p) for _, p in present])
    lines = [
        "",
        "## By phone (`bench/phone_eval.py`)",
        "",
        "Each item said at the voice menu's welcome, in a new call to a server of this checkout (the trained",
        "model `models/aiguillage.tar.gz`; Twilio's complete, signed bodies, speech Confidence 0.9): where the",
        'TwiML goes next. "Destination": an answer with the right destination, out of all (a question asked',
        'again counts as not right). "Likely topics: right offered": among the calls offered the likely topics',
        'as keys, those with the right one. "Served": a right answer or the right key at the first utterance.',
        'Otherwise the caller hears "reformulez" (nothing understood) or a topic\'s own menu.',
        "",
        "| set | calls | destination | topic | answered right | likely topics: right offered | served | outcomes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, path in present:
        r = report[path.name]
        lines.append(
            f"| {label} | {r['n']} | {fmt(r['destination'])} | {fmt(r['topic'])} | {fmt(r['answered_right'])} "
            f"| {fmt(r['choices_right_offered'])} | {fmt(r['served'])} | {fmt_actions(r['kinds'])} |"
        )
    return lines


def no_subject_table(present: list[tuple[str, Path]], scores: dict) -> list[str]:
    """How the requests that name no procedure (items without a topic) were met at the first turn."""
    rows = [
        (path.name + suffix, scores[path.name + key]["no_subject"])
        for _, path in present
        for key, suffix in (("", ""), (" noisy", ", noisy variants"))
        if "no_subject" in scores[path.name + key]
    ]
    if not rows:
        return []
    lines = [
        "",
        'Requests that name no procedure ("j\'ai une question", "c\'est pour mon fils"): nothing in them says',
        "where to go, so every answer is a wrong one. The bot should ask which procedure, with the menu of",
        "topics (or, less well, with the topics the model finds likely).",
        "",
        "| set | requests | asked which procedure, with the menu | asked, with the likely topics | answered |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['n']} | {r['menu']} | {r['likely_topics']} | {r['answered']} |")
    return lines


def alternatives_table(present: list[tuple[str, Path]], scores: dict, cv: dict) -> list[str]:
    """The answers given wrong, and how many of them offer the right topic among their alternatives: the
    buttons shown when the person says it did not help (the rating's « Non », or "non, c'est pas ça")."""
    rows = [
        (path.name + suffix, scores[path.name + key])
        for _, path in present
        for key, suffix in (("", ""), (" noisy", ", noisy variants"))
    ]
    lines = [
        "",
        "Answered wrong, then « Non » (the rating's button, or typed: \"non, c'est pas ça\"): the bot offers the",
        'answer\'s alternatives, the other topics the model found likely (with the PAN and "Autre démarche" when',
        "their words are there) and a person. How many of the wrong answers offer the right topic or destination",
        "among them, as a button, at the second turn (a set with no wrong answer is left out):",
        "",
        "| set | answered wrong | right among the alternatives |",
        "|---|---|---|",
    ]
    for name, r in [*rows, (f"{cv.get('folds', '')}-fold cross-validation of `data/`", cv)]:
        if r.get("answered_wrong"):
            lines.append(f"| {name} | {r['answered_wrong']} | {r['wrong_alternative_right']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-phone", action="store_true", help="skip the table by phone (a server is started)")
    args = parser.parse_args(argv)
    shared = eval_sets.shared_paths()
    # this deployment's reviewed words (bot/nlu/review.py export: one taught sentence in console.measure_every)
    reviewed = [(REVIEWED_LABEL, s.path) for s in eval_sets.reviewed_sets()]
    sets = list(zip(SHARED_LABELS, shared)) + OWN + reviewed
    present = [(label, path) for label, path in sets if path.exists()]
    if not present:
        print("no evaluation set found", file=sys.stderr)
        return 2
    scores = nlu_bench("eval", *[str(p) for _, p in present], "--noisy")
    cv = nlu_bench("cv", "--folds", str(args.folds))["cv"]
    lines = [
        "# Routing accuracy",
        "",
        f"Measured by `bench/eval_report.py` (`make eval`) on {time.strftime('%Y-%m-%d %H:%M')} with the pipeline",
        *INTRO,
        "| set | questions | destination | topic | answered right | asked: right offered | served | first-turn actions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, path in present:
        for name, suffix in ((path.name, ""), (path.name + " noisy", ", noisy variants")):
            r = scores[name]
            lines.append(row(label + suffix, r, destination(r["destination_accuracy"], r["n"], noisy=bool(suffix))))
    lines.append(row(f"{args.folds}-fold cross-validation of `data/` (topic intents)", cv, "-"))
    dropped = {path.name: scores[path.name]["dropped_found_in_training_data"] for _, path in present}
    lines += [
        "",
        "Items found word for word in `data/` and dropped from the scoring: "
        + ", ".join(f"{k} {v}" for k, v in dropped.items())
        + ".",
    ]
    lines += no_subject_table(present, scores)
    lines += alternatives_table(present, scores, cv)
    lines += ["", *HANDS]
    if not args.no_speed:
        wall, cpu = route_speed()
        load = os.getloadavg()[0]
        lines += [
            "",
            f"Speed: `python -m bot route --jsonl` routes {wall:.0f} questions/s once loaded, "
            f"{cpu:.0f} per second of CPU time (2,000 examples of `data/`, timed from the first answers to the last; "
            f"{os.cpu_count()} cores, load average {load:.1f} at the end of the run: on a busy machine "
            "the wall-clock figure falls, the CPU one much less).",
        ]
    if not args.no_phone:
        lines += phone_table(present)
    dev = dev_per_topic(shared[0]) if shared and shared[0].exists() else None
    if dev:
        lines += [
            "",
            "## Per topic (dev set, `python -m bot eval`)",
            "",
            "| topic | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for topic, m in dev["per_topic"].items():
            if m["support"] or m["precision"]:
                lines.append(f"| {topic} | {m['precision']:.2f} | {m['recall']:.2f} | {m['f1']:.2f} | {m['support']} |")
    lines += ["", "## Most frequent confusions (expected -> got)", ""]
    for _label, path in present:
        pairs = scores[path.name]["confusions"][:8]
        lines.append(f"- {path.name}: " + ("; ".join(f"{a} -> {b}: {c}" for a, b, c in pairs) or "none"))
    lines.append("- cross-validation: " + "; ".join(f"{a} -> {b}: {c}" for a, b, c in cv["confusions"][:8]))
    lines.append("")
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "eval.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

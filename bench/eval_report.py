"""Write docs/eval.md: routing accuracy on the shared dev set and on noisy variants of it.

    .venv/bin/python bench/eval_report.py

The noisy variants (no accents, typos, SMS style, spoken fillers) are made by bench/noisy.py from
the dev set, for measurement only: neither file is ever used as training data.
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
DEV_SET = ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"


def run_eval(path: Path) -> dict:
    out = subprocess.run([str(PY), "-m", "bot", "eval", str(path), "--json"], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def main() -> int:
    if not DEV_SET.exists():
        print(f"{DEV_SET} not found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        noisy = Path(tmp) / "noisy.jsonl"
        noisy.write_text(subprocess.run([str(PY), str(ROOT / "bench" / "noisy.py"), str(DEV_SET)],
                                        capture_output=True, text=True, check=True).stdout)
        dev, noise = run_eval(DEV_SET), run_eval(noisy)
    lines = [
        "# Routing accuracy",
        "",
        f"Measured by `bench/eval_report.py` on {time.strftime('%Y-%m-%d %H:%M')} with the model trained from",
        "`data/` and `config.yml`, through `python -m bot eval` (the same router as the chat: NLU, then the",
        "fallback ladder; the destination of a `clarify` is the bot's best guess).",
        "",
        "| set | questions | destination accuracy | topic accuracy | first-turn actions |",
        "|---|---|---|---|---|",
        f"| dev (`../shared/eval/dev_questions.jsonl`) | {dev['n']} | {dev['destination_accuracy']:.3f} | "
        f"{dev['topic_accuracy']:.3f} | {fmt_actions(dev['actions'])} |",
        f"| noisy variants of dev (`bench/noisy.py`) | {noise['n']} | {noise['destination_accuracy']:.3f} | "
        f"{noise['topic_accuracy']:.3f} | {fmt_actions(noise['actions'])} |",
        "",
        f"Items of the dev set found in `data/` and dropped: {dev['dropped_found_in_training_data']}.",
        "",
        "## Per topic (dev set)",
        "",
        "| topic | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for topic, m in dev["per_topic"].items():
        if m["support"] or m["precision"]:
            lines.append(f"| {topic} | {m['precision']:.2f} | {m['recall']:.2f} | {m['f1']:.2f} | {m['support']} |")
    lines += ["", "## Most frequent confusions (dev set, expected -> got)", ""]
    lines += [f"- {c['expected']} -> {c['got']}: {c['count']}" for c in dev["confusions"][:10]]
    lines += ["", "## Misses by kind of noise", "", "| variant | misses (of " + str(noise["n"] // 4) + ") |", "|---|---|"]
    variants = collections.Counter(m["id"].rsplit("-", 1)[1] for m in noise["misses"])
    lines += [f"| {v} | {variants.get(v, 0)} |" for v in ("no_accents", "typos", "sms", "spoken")]
    lines.append("")
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "eval.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def fmt_actions(actions: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(actions.items()))


if __name__ == "__main__":
    raise SystemExit(main())

"""How long each phone prompt takes to say, and the limits it must keep (docs/phone.md): one measure
for tests/test_ivr_durations.py (the five shipped préfectures, the table of docs/phone.md) and for
`python -m bot check` (the file being checked: `breach`).

The TwiML is the channel's own (ivr/twiml.py Speaker, the same code the webhooks answer with). A
prompt's duration is its words at 2.5 words a second plus its pauses (`<Pause length>` and SSML
`<break time>`): computed from the words, never timed. Limits (issue 11): welcome + main menu within
25 s; each answer says where to go or which number within its first 10 s (the words the tree marks as
its useful part, `phone.useful` of each answer node), and all it says before its options within 20 s;
the other prompts each within the limit `OTHER_LIMITS` gives. Measured with the SMS configured, so
that every option a caller may hear is counted.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from bot.core.config import Prefecture
from bot.core.tree import load_tree
from ivr.twiml import ROOT, Speaker

WORDS_PER_SECOND = 2.5
WELCOME_MAX_S = 25
ANSWER_WITHIN_S = 10
LEAF_MAX_S = 20
MAX_TOPIC_KEYS = 5
MAX_LEAF_KEYS = 4
BASE = ""  # the webhooks' URLs are not said: relative ones


def words(text: str) -> int:
    return len([w for w in re.split(r"\s+", text or "") if re.search(r"\w", w)])


def _break_s(value: str) -> float:
    m = re.fullmatch(r"\s*([\d.]+)\s*(ms|s)\s*", value or "")
    if not m:
        return 0.0
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def spoken(parent: ET.Element) -> list[tuple[str, float]]:
    """(text, seconds) of each Say and Pause, in the order the caller hears them."""
    items = []
    for el in parent:
        if el.tag == "Say":
            text = "".join(el.itertext())
            pauses = sum(_break_s(b.attrib.get("time", "")) for b in el.iter("break"))
            items.append((text, words(text) / WORDS_PER_SECOND + pauses))
        elif el.tag == "Pause":
            items.append(("", float(el.attrib.get("length", 1))))
        elif el.tag == "Gather":
            items += spoken(el)
    return items


def seconds(items) -> float:
    return sum(s for _, s in items)


def walk(sp: Speaker):
    """Every node of the phone menu, breadth first from the main menu."""
    queue, seen = [ROOT], []
    while queue:
        node_id = queue.pop(0)
        if node_id in seen:
            continue
        seen.append(node_id)
        queue += [c.id for c in sp.tree.children(None if node_id == ROOT else node_id)]
    return seen


def useful_markers(sp: Speaker, node, open_now: bool) -> list[str]:
    """What tells the caller where to go or which number: the tree's own marker of each answer
    (`phone.useful`, words of its `voice`), as the phone says it. Where the answer itself is not said
    (the person's leaf when no one can take the call), the notice that says what to do instead."""
    marker = node.phone.get("useful")
    assert marker and marker in node.voice, f"{node.id}: phone.useful must be words of its voice text"
    markers = [sp.spoken(marker)]
    if node.id == sp.human_id and not sp.can_dial(node, open_now):
        markers.append(sp.leaf_notice(node, open_now))
    return markers


KEY_NAMED = re.compile(r"\btapez\s+(\d|\*|#|étoile|dièse)", re.IGNORECASE)


def keys_named(texts) -> list[str]:
    """Every key the caller hears named ("tapez 4", "dites ou tapez 1", "tapez étoile"), in order, once each."""
    names = {"étoile": "*", "dièse": "#"}
    found = []
    for text in texts:
        for word in KEY_NAMED.findall(text):
            key = names.get(word.lower(), word)
            if key not in found:
                found.append(key)
    return found


def answer_at(items, markers) -> float:
    """Seconds before the first marker starts; never said: infinite (the check fails)."""
    elapsed = 0.0
    for text, secs in items:
        found = [text.find(m) for m in markers if m and m in text]
        if found:
            return elapsed + words(text[: min(found)]) / WORDS_PER_SECOND
        elapsed += secs
    return float("inf")


def measure(pref: Prefecture) -> list[dict]:
    """A row for each menu and each answer (standard open, then closed) of the phone menu."""
    tree = load_tree()
    sp = Speaker(tree, pref, BASE, sms=True)  # every option, the SMS's included
    rows = []
    for node_id in walk(sp):
        if node_id == ROOT or sp.tree.node(node_id).destination is None:
            resp = sp.welcome(0) if node_id == ROOT else sp.menu(node_id, 0)
            options = sp.menu_options(node_id)
            items = spoken(ET.fromstring(resp.to_xml()))
            topic_keys = [o.key for o in options if o.kind == "node"]
            rows.append(
                {
                    "prefecture": pref.id,
                    "node": "accueil + menu" if node_id == ROOT else node_id,
                    "kind": "menu",
                    "words": sum(words(t) for t, _ in items),
                    "seconds": seconds(items),
                    "answer_at": None,
                    "keys": [o.key for o in options if o.text],
                    "topic_keys": topic_keys,
                    "option_keys": [],
                }
            )
            continue
        node = sp.tree.node(node_id)
        for open_now in (True, False):
            options = sp.leaf_options(node, open_now)
            said = {o.text for o in options if o.text}
            items = spoken(ET.fromstring(sp.leaf(node_id, 0, open_now).to_xml()))
            before = []
            for text, secs in items:
                if text in said:
                    break
                before.append((text, secs))
            # What the caller hears: every key named in the prompt (the answer's text too), the
            # rating's two keys apart (a question about the answer, not an option: issue 11 §2).
            rating = {o.key for o in options if o.kind.startswith("feedback")}
            heard = keys_named(t for t, _ in items)
            rows.append(
                {
                    "prefecture": pref.id,
                    "node": node_id + (" (ouvert)" if open_now else " (fermé)"),
                    "kind": "leaf",
                    "words": sum(words(t) for t, _ in before),
                    "seconds": seconds(before),
                    "answer_at": answer_at(before, useful_markers(sp, node, open_now)),
                    "keys": heard,
                    "topic_keys": [],
                    "option_keys": [k for k in heard if k not in rating],
                    "rating_last": not rating or heard[-len(rating) :] == sorted(rating, key=heard.index),
                }
            )
    return rows


# The other prompts, each with its limit (docs/phone.md says why): a prompt that lists choices to
# hold in mind (the likely topics, the offer of a person, the PAN slots) as a menu, 25 s with its
# options; a question about one thing (the confirmation of speech, of a PAN slot) and the booked
# message before its options as an answer, 20 s. `None`: measured, limit not met today (docs/phone.md).
OTHER_LIMITS = {
    "thèmes probables": WELCOME_MAX_S,
    "confirmation (parole)": LEAF_MAX_S,
    "offre (ouvert)": WELCOME_MAX_S,
    "offre (fermé)": WELCOME_MAX_S,
    "pan : créneaux": WELCOME_MAX_S,
    "pan : confirmation": LEAF_MAX_S,
    "pan : réservé": LEAF_MAX_S,
    "pan : réservé, détails": LEAF_MAX_S,
    # Fail soft (docs/phone.md, "Fail soft"): the incoming call failed, a menu; the voicemail started at
    # once after a transfer not answered while the store is down, a message before the beep.
    "accueil dégradé (clavier) + menu": WELCOME_MAX_S,
    "transfert sans réponse, stockage indisponible": LEAF_MAX_S,
}


def measure_other(pref: Prefecture) -> list[dict]:
    """The likely topics, the confirmation of speech, the offer of a person, the PAN slots, their
    confirmation and the booked message (at its longest site name), timed like the menus."""
    sp = Speaker(load_tree(), pref, BASE, sms=True)
    sites = [site["id"] for site in sp.pref.get("pan.sites")]
    slots = [{"site": sites[i % len(sites)], "start": "2026-05-05T09:00"} for i in range(3)]
    longest = max(sites, key=lambda site: len(sp.pan_place(site)))
    booked = {"reference": "PAN-1234-5678", "site": longest, "start": "2026-05-05T09:00", "node": "rdv_pan"}
    prompts = {
        "thèmes probables": (sp.choices(["carte_grise", "titre_sejour", "armes"], ROOT, 1), True),
        "confirmation (parole)": (sp.confirm("titre_sejour", ROOT, 1), True),
        "offre (ouvert)": (longest_said(offers_after_a_miss(sp, "titre_sejour", True).values()), True),
        "offre (fermé)": (longest_said(offers_after_a_miss(sp, "titre_sejour", False).values()), True),
        "pan : créneaux": (sp.pan_slots("rdv_pan", slots, 1), True),
        "pan : confirmation": (sp.pan_confirm("rdv_pan", slots[0], 1), True),
        "pan : réservé": (sp.pan_booked(booked, 1), False),
        "pan : réservé, détails": (sp.pan_booked(booked, 1, details=True), False),
        "accueil dégradé (clavier) + menu": (sp.keypad_welcome(), True),
        "transfert sans réponse, stockage indisponible": (sp.voicemail_now(sp.human_id, 1), True),
    }
    rows = []
    for name, (resp, with_options) in prompts.items():
        text = resp if isinstance(resp, str) else resp.to_xml()
        items = spoken(ET.fromstring(text))
        if not with_options:  # an answer: what it says before its options
            said = {o.text for o in sp.pan_booked_options(booked) if o.text}
            items = items[: next((i for i, (t, _) in enumerate(items) if t in said), len(items))]
        rows.append(
            {
                "prefecture": pref.id,
                "node": name,
                "kind": "other",
                "words": sum(words(t) for t, _ in items),
                "seconds": seconds(items),
                "answer_at": None,
                "keys": keys_named(t for t, _ in spoken(ET.fromstring(text))),
                "topic_keys": [],
                "option_keys": [],
                "limit": OTHER_LIMITS[name],
            }
        )
    return rows


def longest_said(prompts):
    """The prompt that takes longest to say."""
    return max(prompts, key=lambda resp: seconds(spoken(ET.fromstring(resp.to_xml()))))


# The sentence of each miss that brings the offer of a person or the voicemail (the third in a row,
# `max_retries`), said just before it: silence ("Je n'ai rien entendu."), a key not offered (7 is
# offered nowhere). Speech not understood brings it with no sentence of its own: shorter.
MISSES = {"silence": {}, "touche non proposée": {"digits": "7"}}


def offers_after_a_miss(sp: Speaker, node_id: str, open_now) -> dict:
    """The offer as the caller hears it at `node_id` after each kind of miss (`MISSES`): the miss's
    sentence, then the offer (ivr/flow.py `_miss`), the flow's own TwiML."""
    from ivr.flow import Flow
    from ivr.state import CallState, Input

    flow = Flow(sp)
    is_menu = node_id == ROOT or sp.tree.node(node_id).destination is None
    offers = {}
    for miss, keys in MISSES.items():
        if miss == "silence" and not is_menu and node_id != sp.human_id:
            continue  # silence after a real answer ends the call politely (Flow._silent_after_answer): no offer
        st = CallState("CA1", state="menu" if is_menu else "leaf", node=node_id, step=4, retries=flow.max_retries - 1)
        resp = flow.handle(st, Input(**keys), open_now)
        assert st.state == "offer", (node_id, miss, st.state)
        offers[miss] = resp
    return offers


def breach(rows: list[dict]) -> str | None:
    """The first limit a measured prompt breaks, said for the deployer, or None."""
    for r in rows:
        if r["kind"] == "leaf" and r["answer_at"] > ANSWER_WITHIN_S:
            return (
                f"the phone prompt '{r['node']}' says where to go at {r['answer_at']:.1f} s, after its limit of "
                f"{ANSWER_WITHIN_S} s (docs/phone.md)"
            )
        limit = {"menu": WELCOME_MAX_S, "leaf": LEAF_MAX_S}.get(r["kind"], r.get("limit"))
        if limit is not None and r["seconds"] > limit:  # as tests/test_ivr_durations.py asserts
            return (
                f"the phone prompt '{r['node']}' takes {r['seconds']:.1f} s to say, over its limit of {limit} s (docs/phone.md)"
            )
    return None


def check(pref: Prefecture) -> str | None:
    """What `python -m bot check` says of the préfecture's phone prompts: the first limit broken, or None."""
    return breach(measure(pref) + measure_other(pref))

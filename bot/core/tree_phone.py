"""The routing tree's phone side: the `phone:` section of bot/tree.yml (its texts, keys and settings)
checked, and what a keypad menu needs to know of a node (the keys a leaf uses, whether it names a
website, whether the caller is asked to rate it)."""

from __future__ import annotations

from bot.core.config_checks import whole
from bot.core.tree_model import MAX_MENU_OPTIONS, Node, Tree, TreeError, placeholders, required_text

# The phone section (`phone:` in tree.yml): every text the voice menu says, with the local
# placeholders each may use (besides the préfecture's dotted {a.b.c} ones).
PHONE_TEXTS: dict[str, set[str]] = {
    "automated_welcome": set(),
    "option": {"label", "key"},
    "repeat": {"key"},
    "back": {"key"},
    "main_menu": {"key"},
    "transfer_offer": {"contact", "key"},
    "transfer_now": {"contact"},
    "transfer_failed": set(),
    "voicemail_offer": {"service", "key"},
    "hear_number": {"key"},
    "number_is": set(),
    "reprompt_silence": set(),
    "reprompt_wrong_key": set(),
    "rephrase": set(),
    "likely_topics": set(),
    "offer_person_or_voicemail": set(),
    "closed_voicemail": set(),
    "closed_now_voicemail": set(),
    "confirm": {"label", "key"},
    "confirm_no": set(),
    "no_transfer_voicemail": set(),
    "contact_closed_voicemail": {"contact", "hours"},
    "contact_closed_unconfirmed": {"contact", "hours"},
    "voicemail_prompt": {"key"},
    "voicemail_thanks": {"service"},
    "voicemail_empty": set(),
    "voicemail_reference": {"digits"},
    "feedback_offer": {"key", "no_key"},
    "feedback_thanks": set(),
    "sms_offer": {"key"},
    "sms_body": {"label", "url"},
    "sms_sent": set(),
    "sms_pending": set(),
    "sms_no_mobile": set(),
    "sms_refused": set(),
    "sms_failed": set(),
    "goodbye": set(),
    "closing": set(),
    "apology": set(),
}
PHONE_KEYS = [
    "repeat_key",
    "back_key",
    "main_menu_key",
    "transfer_key",
    "voicemail_key",
    "number_key",
    "pan_key",
    "pan_cancel_key",
    "feedback_key",
    "feedback_no_key",
    "sms_key",
]
PHONE_SETTINGS = ["gather_timeout", "max_retries", "max_offer_retries", "record_max_length", "record_timeout", "dial_timeout"]
PHONE_FRACTIONS = ["confirm_below", "likely_topics_from"]  # confidences, from 0 to 1
KEY_CHARS = "".join(str(d) for d in range(10)) + "*#"  # keys of a phone keypad


def leaf_action_keys(tree: Tree, node: Node) -> set[str]:
    """The phone keys a leaf may use for its own actions (transfer, voicemail, number, PAN, rating)."""
    phone = tree.phone
    keys = set()
    if node.transfer:
        keys |= {phone["transfer_key"], phone["voicemail_key"], phone["number_key"]}
    if node.mailbox:
        keys.add(phone["voicemail_key"])
    if node.contact:
        keys.add(phone["number_key"])
    if node.destination == "pan_rdv":
        keys.update((phone["pan_key"], phone["pan_cancel_key"]))
    if rates_answer(node):
        keys.update((phone["feedback_key"], phone["feedback_no_key"]))
    if website_named(node):
        keys.add(phone["sms_key"])
    return keys


def website_named(node: Node) -> str | None:
    """The placeholder of the website an answer names aloud ("sur le site officiel {ants.url}"), the
    first one; None when it names none. The phone offers to send that link by SMS (`sms_key`)."""
    if node.destination is None:
        return None
    return next((name for name in placeholders(node.voice) if name.endswith(".url")), None)


def rates_answer(node: Node) -> bool:
    """Whether the phone asks "cette réponse vous a-t-elle aidé ?" after this node: every answer but the person."""
    return node.destination is not None and node.destination != "human"


def check_phone(tree: Tree) -> None:
    """Validate the `phone` section and the tree's fitness for a keypad menu."""
    file, phone = tree.file, tree.phone
    for tid, allowed in PHONE_TEXTS.items():
        text = required_text(phone.get(tid), f"phone.{tid}", file)
        for name in placeholders(text):
            if "." not in name and name not in allowed:
                allowed_text = ", ".join("{%s}" % a for a in sorted(allowed)) or "none"
                raise TreeError(
                    file, f"phone.{tid}", f"unknown placeholder '{{{name}}}' (local placeholders allowed: {allowed_text})"
                )
    keys = {}
    for kid in PHONE_KEYS:
        key = phone.get(kid)
        if not isinstance(key, str) or len(key) != 1 or key not in KEY_CHARS:
            raise TreeError(file, f"phone.{kid}", "must be one key: a digit, '*' or '#'")
        if key in keys:
            raise TreeError(file, f"phone.{kid}", f"key '{key}' already used by '{keys[key]}'")
        keys[key] = kid
    details = phone.get("pan_details_key")  # said only in the booked message, beside these keys
    booked_keys = {phone["sms_key"], phone["repeat_key"], phone["main_menu_key"]}
    if not isinstance(details, str) or len(details) != 1 or details not in KEY_CHARS or details in booked_keys:
        raise TreeError(file, "phone.pan_details_key", "must be one key, not the booked message's SMS, repeat or main-menu key")
    names = phone.get("key_names")
    if not isinstance(names, dict):
        raise TreeError(file, "phone.key_names", "must map '*' and '#' to the words said for them")
    for key in keys:
        if not key.isdigit():
            required_text(names.get(key), f"phone.key_names.{key}", file)
    settings = phone.get("settings")
    if not isinstance(settings, dict):
        raise TreeError(file, "phone.settings", "missing section")
    for sid in PHONE_SETTINGS:
        if not whole(settings.get(sid)):
            raise TreeError(file, f"phone.settings.{sid}", "must be a positive whole number")
    for sid in PHONE_FRACTIONS:
        value = settings.get(sid)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise TreeError(file, f"phone.settings.{sid}", "must be a number from 0 to 1 (a confidence)")
    words = phone.get("number_words")
    if not isinstance(words, list) or len(words) != 100 or not all(isinstance(w, str) and w.strip() for w in words):
        raise TreeError(file, "phone.number_words", "must list the words for 0 to 99 (100 texts)")
    check_closures(phone.get("closures"), file)
    contacts = phone.get("contacts")
    if not isinstance(contacts, dict):
        raise TreeError(file, "phone.contacts", "must map a node's contact to who a transfer reaches")
    structural = {phone["repeat_key"], phone["back_key"], phone["main_menu_key"]}
    menus = [("menu", None)] + [(f"nodes.{n.id}", n) for n in tree.nodes.values() if n.children]
    for where, owner in menus:
        options = tree.children(owner.id if owner else None)
        if len(options) > MAX_MENU_OPTIONS:
            raise TreeError(file, where, f"a phone menu says at most {MAX_MENU_OPTIONS} options")
        reserved = set() if owner is None else set(structural)
        if owner is not None and owner.destination is not None:
            reserved |= leaf_action_keys(tree, owner)
        for child in options:
            if owner is None and str(child.key) in (phone["repeat_key"], phone["back_key"]):
                raise TreeError(file, f"nodes.{child.id}.key", f"key {child.key} is a phone key ({keys[str(child.key)]})")
            if str(child.key) in reserved:
                raise TreeError(file, f"nodes.{child.id}.key", f"key {child.key} is also a phone key of '{owner.id}'")
    for node in tree.nodes.values():
        if node.transfer:
            required_text(contacts.get(node.contact), f"phone.contacts.{node.contact}", file)


def check_closures(closures: object, file: str) -> None:
    """`phone.closures`: the notice's texts (`today`, `ahead` with {when}) and `days_said`, how many
    closure days it names at most (absent: all, which needs `and_more` and `and_last` to join them)."""
    if not isinstance(closures, dict):
        raise TreeError(file, "phone.closures", "must hold the closure notice's texts")
    most = closures.get("days_said")
    if most is not None and not whole(most):
        raise TreeError(file, "phone.closures.days_said", "must be a positive whole number")
    joined = ("and_more", "and_last") if most is None or most > 1 else ()
    for tid in ("today", "ahead", *joined):
        required_text(closures.get(tid), f"phone.closures.{tid}", file)

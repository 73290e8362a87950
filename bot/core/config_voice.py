"""The voice of the phone menu (the préfecture file's `voice:` block): a French language and voice that
Twilio's <Say> speaks, and that match (bot/core/config_checks.py raises what `problem` says)."""

from __future__ import annotations

import re

# The French voices of Twilio's <Say> (twilio.com/docs/voice/twiml/say/text-speech): the languages, and
# the Amazon Polly voices with the language each speaks (a Polly voice speaks only its own); a Google
# voice names its language ("Google.fr-FR-Neural2-A").
SAY_LANGUAGES = ("fr-FR", "fr-CA", "fr-BE")
POLLY_VOICES = {
    "Celine": "fr-FR",
    "Lea": "fr-FR",
    "Mathieu": "fr-FR",
    "Remi": "fr-FR",
    "Chantal": "fr-CA",
    "Gabrielle": "fr-CA",
    "Liam": "fr-CA",
    "Isabelle": "fr-BE",
}
_POLLY = re.compile(r"^Polly\.([A-Za-z]+)(?:-Neural|-Generative)?$")
_GOOGLE = re.compile(r"^Google\.([a-z]{2}-[A-Z]{2})-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")


def problem(voice: dict) -> tuple[str, str] | None:
    """(key, problem) of voice.language or voice.voice when Twilio's <Say> could not speak them, else None."""
    language, name = voice.get("language"), str(voice.get("voice"))
    if language not in SAY_LANGUAGES:
        return "voice.language", (
            f"'{language}' is not a French language of Twilio's <Say>: write {', '.join(SAY_LANGUAGES[:-1])} or {SAY_LANGUAGES[-1]}"
        )
    polly, google = _POLLY.match(name), _GOOGLE.match(name)
    speaks = POLLY_VOICES.get(polly.group(1)) if polly else google.group(1) if google else None
    if speaks is None:
        by_language = "; ".join(
            f"{lang}: {', '.join(sorted(v for v, lg in POLLY_VOICES.items() if lg == lang))}" for lang in SAY_LANGUAGES
        )
        return "voice.voice", (
            f"'{name}' is not a French voice of Twilio's <Say>: write Polly.<name> ({by_language}) or Google.<language>-<name>"
        )
    if speaks != language:
        return "voice.voice", f"'{name}' speaks {speaks}, not the file's voice.language {language}"
    return None

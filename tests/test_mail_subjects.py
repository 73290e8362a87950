"""E-mail subjects as mail readers receive them: whole (every space of an accented subject kept) and
within RFC 2047 and RFC 5322 (an encoded word at most 75 characters, no line over 78). Messages built
by bot/services/mailer.build_message, sent with smtplib to the session's real SMTP server (aiosmtpd),
their bytes read back with the standard library's parser (email.policy.default)."""

from __future__ import annotations

import random
import re
import smtplib
import uuid

from bot.services import mailer

ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# Words as the public writes a message's subject: accents, ligatures, French quotes and dashes,
# apostrophes, references and figures, a few longer words; one emoji.
WORDS = (
    "Armes héritées démarche à suivre carte grise européenne d'arme feu renouvellement titre de séjour "
    "étudiant préfecture délivrance récépissé échéance Hélène Lefèvre naturalisation dossier complété "
    "permis conduire rendez-vous annulé — ? « » : œuvre garçon Noël ÉTÉ CÔTE-D'OR 15/03/2026 n° 12 "
    "anticonstitutionnellement détérioration véhicule immatriculé AB-123-CD où ça 😀"
).split()


def accented_subjects(count: int, seed: int = 2047) -> list[str]:
    """`count` reply subjects (« Réponse à votre message MSG-… : » and the person's subject of 1 to
    150 characters), the same on every run."""
    rng = random.Random(seed)
    subjects = []
    for i in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 30))]
        theirs = " ".join(words)[:150].strip() or "é"
        subjects.append(f"Réponse à votre message MSG-2026-{i % 10000:04d} : {theirs}")
    return subjects


# Subjects near the edges: no accent, a word longer than a line, accents only, spaces at the fold.
EDGES = [
    "Armes héritées — démarche à suivre ?",
    "[MSG-2026-0001] Renouvellement de ma carte",
    "[MSG-2026-0002] A question about my residence permit renewal and the documents I still need to send",
    "[MSG-2026-0003] " + "x" * 90 + " fin",
    "é" * 150,
    "à " * 75,
    "Accusé de réception de votre message MSG-2026-0004",
]


def send_all(smtp, subjects: list[str]) -> list[bytes]:
    """Each subject in a reply built by the product, sent over one SMTP connection; the bytes received."""
    settings = mailer.SmtpSettings.from_env(smtp.env)
    to = f"objets-{uuid.uuid4().hex[:8]}@exemple.fr"
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as server:
        for subject in subjects:
            row = {"kind": "ticket_reply", "to_addr": to, "reply_to": "pref-armes@cantal.gouv.fr", "subject": subject}
            server.send_message(mailer.build_message(settings, row | {"body": "Bonjour,\nvoici la réponse."}))
    return smtp.raw_to(to)


def subject_of(raw: bytes) -> str:
    import email
    import email.policy

    return email.message_from_bytes(raw, policy=email.policy.default)["Subject"]


def test_accented_subjects_arrive_whole_in_short_encoded_words_and_lines(smtp):
    # Python 3.11's folding dropped the space where it cut an accented subject between two encoded
    # words (« Armeshéritées »); written unfolded instead, a subject became one encoded word of up to
    # 200 characters, which strict mail readers may refuse (RFC 2047: 75 at most).
    subjects = accented_subjects(3000) + EDGES
    received = send_all(smtp, subjects)
    assert [subject_of(raw) for raw in received] == subjects
    too_long = sorted({len(word) for raw in received for word in ENCODED_WORD.findall(raw) if len(word) > 75})
    assert too_long == []
    long_lines = [line for raw in received for line in raw.split(b"\r\n") if len(line) > 78]
    assert long_lines == []


def test_a_short_subject_without_accents_is_written_as_it_is(smtp):
    (raw,) = send_all(smtp, ["[MSG-2026-0005] Renouvellement de ma carte"])
    assert b"\r\nSubject: [MSG-2026-0005] Renouvellement de ma carte\r\n" in raw

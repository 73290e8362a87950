"""Routing decisions: from an NLU parse to a tree node, with the fallback ladder.

Pure logic, no Rasa import: the chat action, the phone channel and the CLI all call `decide`.

Ladder: NLU intent above the confidence threshold -> answer; else, for a short message, typo-tolerant
alias match (rapidfuzz) -> answer; else a clarifying question with buttons for the likely topics; after
`max_misses` clarifications in a row -> fallback (a person or the mailbox), stored as unresolved.
A request that names no procedure (the model's `vague_request` above the threshold) is asked which
procedure, with the menu of topics, and reported without a topic. An answer to the person's words keeps
the other likely topics (`alternatives`), offered if the person says it did not help (docs/routing.md).
"""

from __future__ import annotations

import json
from dataclasses import replace

from bot.core.config import Prefecture
from bot.core.decision import Decision
from bot.core.display import answer_parts, site_items
from bot.core.ranking import VAGUE_INTENT, put_first, without_vague
from bot.core.text import READING, best_alias, norm
from bot.core.tree import CONVERSATION_INTENTS, ITEMS_PAN_SITES, TOPICS, Node, Tree, referral_aliases, render
from bot.core.wording import Wording

NAVIGATE_INTENT = "navigate"


def button_payload(node_id: str) -> str:
    return "/" + NAVIGATE_INTENT + json.dumps({"node": node_id}, separators=(",", ":"))


class Router:
    def __init__(self, tree: Tree, pref: Prefecture):
        self.tree, self.pref = tree, pref
        s = tree.settings
        self.threshold = float(s["confidence_threshold"])
        self.fuzzy_cutoff = float(s["fuzzy_cutoff"])
        self.fuzzy_max_words = int(s.get("fuzzy_max_words") or 6)
        self.max_misses = int(s["max_misses"])
        self.clarify_choices = int(s["clarify_choices"])
        self.max_chars = int(s["max_message_chars"])
        self.max_words = int(s.get("answer_max_words") or 60)
        self.words = Wording(s)
        # (normalised alias, node id, word count) for the fuzzy matcher
        self._aliases = [
            (norm(alias), node.id, len(norm(alias).split()))
            for node in tree.nodes.values()
            for alias in node.aliases
            if norm(alias)
        ]
        self._referral_aliases = referral_aliases(tree)
        # The documents whose file a "where is my file" message may be about: those of the
        # suivi_dossier menu's leaves (bot/tree.yml `documents`), each with its topic's aliases.
        self._documents = [d for child in tree.children(tree.topic_node("suivi_dossier").id) for d in child.documents]
        self._doc_aliases = [
            (norm(alias), topic, len(norm(alias).split()))
            for topic in self._documents
            for alias in tree.topic_node(topic).aliases
        ]

    # ---- texts -----------------------------------------------------------------------------
    def message(self, mid: str) -> str:
        """A message's screen text, then its English part (`english`) when it has one."""
        return self.message_shown(mid)[0]

    def message_shown(self, mid: str) -> tuple[str, dict]:
        """A message's text (message) and, when it has an English part, its display {lead, english} for
        the page to mark that part English ({} otherwise); each rendered once."""
        msg = self.tree.messages[mid]
        screen = render(msg["screen"], self.pref)
        if not msg.get("english"):
            return screen, {}
        english = render(msg["english"], self.pref)
        return f"{screen} / {english}", {"lead": screen, "english": english}

    def voice_message(self, mid: str) -> str:
        return render(self.tree.messages[mid]["voice"], self.pref)

    def _node_decision(
        self, text: str, node: Node, confidence: float, misses: int, matched_by: str, topic: str | None = None
    ) -> Decision:
        if node.destination is None:  # a menu: ask which child
            return Decision(
                text=text,
                topic=topic or node.topic,
                destination=None,
                confidence=confidence,
                action="clarify",
                answer=render(node.screen_text or node.voice, self.pref),
                node=node.id,
                buttons=[self._button(c) for c in self.tree.children(node.id)],
                voice=render(node.voice, self.pref),
                resolved=False,
                misses=misses,
                matched_by=matched_by,
            )
        links = [self._link(l) for l in node.links]
        screen_extra, voice_extra = {"referral": ""}, {"referral": ""}
        referral = self.referral(text, node.id)
        if referral is not None:
            screen_extra["referral"] = render(referral.screen, self.pref)
            voice_extra["referral"] = render(referral.voice, self.pref)
            links.insert(0, self._link(referral.link))
        answer = render(node.screen_text, self.pref, screen_extra)
        return Decision(
            text=text,
            topic=topic or node.topic,
            destination=node.destination,
            confidence=confidence,
            action="answer",
            answer=answer,
            display=self.display(node, answer, screen_extra),
            node=node.id,
            links=links,
            buttons=[self._button(self.tree.node(b)) for b in node.buttons],
            voice=render(node.voice, self.pref, voice_extra),
            resolved=True,
            misses=0,
            matched_by=matched_by,
            referral=referral.id if referral is not None else None,
        )

    def display(self, node: Node, answer: str, extra: dict | None = None) -> dict:
        """The short form of a leaf's answer on the chat page: {lead, items, more} (strings)."""
        if node.items == ITEMS_PAN_SITES:
            items = site_items(self.pref)
        else:
            items = [render(i, self.pref) for i in node.items]
        lead = render(node.lead, self.pref, extra) if node.lead else ""
        return answer_parts(lead, items, answer, self.max_words)

    def referral(self, text: str, node_id: str):
        """What the answer of `node_id` says first when the message names it (for the answers for another
        body: the body that handles the question)."""
        aliases = self._referral_aliases.get(node_id)
        hit = best_alias(text, aliases, self.fuzzy_cutoff) if aliases else None
        return self.tree.referral(hit[0]) if hit else None

    def _link(self, link: dict) -> dict:
        """A link of the tree ({"title", "url"}) with the préfecture's values filled in."""
        return {"title": render(link["title"], self.pref), "url": render(link["url"], self.pref)}

    def _button(self, node: Node) -> dict:
        return {"title": render(node.title, self.pref), "payload": button_payload(node.id)}

    def topic_buttons(self) -> list[dict]:
        return [self._button(n) for n in self.tree.children(None)]

    # ---- matching --------------------------------------------------------------------------
    def fuzzy_node(self, text: str) -> tuple[Node, float] | None:
        hit = best_alias(text, self._aliases, self.fuzzy_cutoff)
        return (self.tree.node(hit[0]), hit[1]) if hit else None

    def suivi_node(self, text: str, ranking: list[dict]) -> Node:
        """The suivi_dossier child for the document asked about."""
        hit = best_alias(text, self._doc_aliases, self.fuzzy_cutoff)
        document = hit[0] if hit else self.words.document_by_words(text)
        if document is None:
            for item in ranking:
                if item.get("name") in self._documents and float(item.get("confidence") or 0) >= 0.05:
                    document = item["name"]
                    break
        menu = self.tree.topic_node("suivi_dossier")
        # No document named nor guessed: the menu asks which one (not the "other file" leaf).
        return next((child for child in self.tree.children(menu.id) if document in child.documents), menu)

    def node_for_topic(self, topic: str, text: str, ranking: list[dict]) -> Node:
        node = self.tree.topic_node(topic)
        if topic == "suivi_dossier":
            return self.suivi_node(text, ranking)
        return node

    # ---- the ladder ------------------------------------------------------------------------
    def _nothing_to_read(self, text: str, key: str, misses: int) -> Decision:
        """An empty message, or one with nothing to read (emoji, punctuation): the topics as buttons,
        with the tree's message `key`; the misses are left as they were."""
        return Decision(
            text=text,
            topic=None,
            destination=None,
            confidence=0.0,
            action="clarify",
            answer=self.message(key),
            buttons=self.topic_buttons(),
            voice=self.voice_message(key),
            misses=misses,
            matched_by="none",
        )

    def decide(self, text: str, parse: dict, misses: int = 0) -> Decision:
        """The decision for `text` (kept as written in the decision) on the NLU's `parse`; the word lists
        read the NLU's reading of the text when the parse has one (READING: "ma carte euh grise" is read
        "ma carte grise")."""
        reading = parse.get(READING)
        if not reading or not text.strip():
            return self._decide(text, parse, misses)
        return replace(self._decide(reading, parse, misses), text=text)

    def _decide(self, text: str, parse: dict, misses: int) -> Decision:
        intent = parse.get("intent") or {}
        name = intent.get("name")
        confidence = float(intent.get("confidence") or 0.0)
        ranking = parse.get("intent_ranking") or ([intent] if name else [])
        confidence, ranking = without_vague(name, confidence, ranking, self.words.vague_set_aside_below)

        if not text.strip():
            return self._nothing_to_read(text, "empty", misses)

        if not norm(text) and not text.startswith("/"):
            if any(c.isalpha() for c in text):  # words in another script (Arabic, Chinese...)
                name, confidence = "other_language", 1.0
            else:  # emoji, punctuation only: nothing to read
                return self._nothing_to_read(text, "not_text", misses)

        if name == NAVIGATE_INTENT:
            node_id = next((e.get("value") for e in parse.get("entities") or [] if e.get("entity") == "node"), None)
            if node_id in self.tree.nodes:
                return self._node_decision(text, self.tree.node(node_id), 1.0, misses, "button")
            if node_id is None and confidence >= self.threshold:  # typed "menu", "retour"...
                return Decision(
                    text=text,
                    topic=NAVIGATE_INTENT,
                    destination=None,
                    confidence=confidence,
                    action="answer",
                    answer=self.message("menu"),
                    buttons=self.topic_buttons(),
                    voice=self.voice_message("menu"),
                    resolved=True,
                    misses=0,
                )
            name, confidence = None, 0.0  # unknown node: treat as not understood

        if self.words.complains_about_another_body(name, text):
            return self._not_understood(text, confidence, put_first(ranking, "hors_perimetre"), misses, elsewhere=True)

        if name == VAGUE_INTENT and confidence >= self.threshold:
            return self._not_understood(text, confidence, ranking, misses, elsewhere=False, menu=True)
        vague = self.words.is_vague(text)
        # Another body's words with one of our topics: answer only when the model is sure.
        elsewhere = (
            name in TOPICS
            and name != "hors_perimetre"
            and confidence < self.words.other_sure
            and self.words.names_other_body(text)
        )
        if name and confidence >= self.threshold and not (vague and name in TOPICS) and not elsewhere:
            if name in TOPICS or name == "human_handoff":
                node = self.node_for_topic(name, text, ranking) if name in TOPICS else self.tree.topic_node(name)
                answered = self._node_decision(text, node, confidence, misses, "nlu", topic=name)
                return self._with_alternatives(answered, text, ranking)
            if name in CONVERSATION_INTENTS:
                return self._conversation(text, name, confidence)

        # Only a short message is answered from an alias (a typo: "naturalisaton ?"). In a long one a
        # topic's word is often context ("ma réclamation aux impôts"), and the model, unsure, is asked
        # about: its best guesses are the clarification's buttons (docs/pipeline.md, "long messages").
        short = len(norm(text).split()) <= self.fuzzy_max_words
        fuzzy = self.fuzzy_node(text) if short and not (vague or elsewhere) else None
        if fuzzy is not None:
            node, score = fuzzy
            topic = node.topic
            if topic == "suivi_dossier" and node.destination is None:
                node = self.suivi_node(text, ranking)
            return self._with_alternatives(
                self._node_decision(text, node, confidence, misses, "fuzzy", topic=topic), text, ranking
            )

        return self._not_understood(text, confidence, ranking, misses, elsewhere)

    def _conversation(self, text: str, name: str, confidence: float) -> Decision:
        """The answer to a conversation intent (a greeting, thanks, another language...): its message."""
        answer, display = self.message_shown(name)
        return Decision(
            text=text,
            topic=name,
            destination=None,
            confidence=confidence,
            action="answer",
            answer=answer,
            display=display,
            voice=self.voice_message(name),
            buttons=self.topic_buttons() if name in ("greet", "deny") else [],
            resolved=True,
            misses=0,
        )

    def _unsure_reading(self, text: str, ranking: list[dict], elsewhere: bool) -> list[dict]:
        """The model unsure, its first topic read again with the message's words (docs/pipeline.md,
        twelfth pass):
        - a complaint, and the message names one of our documents: the document first (a complaint is
          about the préfecture's service; anger about one's own papers is told around the need);
        - help (the PAN), with another body's words and none of our documents: "Autre démarche" first
          (the PAN helps with the préfecture's procedures, not with another body's site);
        - any topic far from sure (below settings.other_bodies.guess_below), with another body's words,
          none of our documents and not the préfecture: "Autre démarche" first (thirteenth pass)."""
        first = next((r for r in ranking if r.get("name") in TOPICS), None)
        name = first["name"] if first else None
        if name == "reclamation" and not elsewhere:
            document = self.words.document_by_words(text)
            return put_first(ranking, document) if document is not None else ranking
        if first is None or not elsewhere or self.words.document_by_words(text) is not None:
            return ranking
        far = float(first.get("confidence") or 0) < self.words.other_guess_below and not self.words.names_ours(text)
        return put_first(ranking, "hors_perimetre") if name == "rdv_pan" or far else ranking

    def _not_understood(
        self, text: str, confidence: float, ranking: list[dict], misses: int, elsewhere: bool, menu: bool = False
    ) -> Decision:
        """Not understood: best guess for reporting, then a clarifying question or, after `max_misses`, the
        fallback. `menu`: a request without a subject, asked which procedure with the menu of topics,
        and reported without a topic (as an empty message: any guess would be made up)."""
        ranking = self._unsure_reading(text, ranking, elsewhere)
        guess = next((r for r in ranking if r.get("name") in TOPICS), None)
        guess_topic = guess["name"] if guess else "hors_perimetre"
        guess_node = self.node_for_topic(guess_topic, text, ranking)
        misses += 1
        unsure = dict(
            text=text,
            topic=None if menu else guess_topic,
            destination=None if menu else guess_node.destination,
            confidence=confidence,
            resolved=False,
            misses=misses,
            matched_by="none",
        )
        if misses >= self.max_misses:
            human = self.tree.topic_node("human_handoff")
            return Decision(
                **unsure,
                action="fallback",
                answer=self.message("fallback"),
                node=human.id,
                links=[self._link(l) for l in human.links],
                voice=self.voice_message("fallback"),
                fallback_destination=human.destination,
            )
        if menu:
            return Decision(
                **unsure,
                action="clarify",
                answer=self.message("vague"),
                buttons=self.topic_buttons(),
                voice=self.voice_message("vague"),
                menu=True,
            )
        choices = self._likely(text, ranking, elsewhere)
        buttons = [self._button(n) for n in choices + [self.tree.topic_node("human_handoff")]]
        return Decision(
            **unsure, action="clarify", answer=self.message("clarify"), buttons=buttons, voice=self.voice_message("clarify")
        )

    def _likely(self, text: str, ranking: list[dict], elsewhere: bool, answered: str | None = None) -> list[Node]:
        """The topics a person is offered to choose from (a clarification's, or an answer's alternatives):
        the model's likely ones but `answered`, `clarify_choices` at the most, with "Autre démarche" when
        `elsewhere` (another body's words) and the PAN (the only appointment the préfecture gives) when
        appointment or help words are there, each in place of the least likely."""
        choices: list[Node] = []
        for item in ranking:
            if item.get("name") in TOPICS and item["name"] != answered:
                node = self.tree.topic_node(item["name"])
                if node not in choices:
                    choices.append(node)
            if len(choices) == self.clarify_choices:
                break
        required = [
            self.tree.topic_node(topic)
            for topic, wanted in (("hors_perimetre", elsewhere), ("rdv_pan", self.words.asks_for_help(text)))
            if wanted and topic != answered
        ]
        for node in required:
            if node not in choices:
                droppable = [c for c in choices if c not in required]
                if len(choices) >= self.clarify_choices and droppable:
                    choices.remove(droppable[-1])
                choices.append(node)
        return choices

    def _with_alternatives(self, decision: Decision, text: str, ranking: list[dict]) -> Decision:
        """An answer to the person's words with its alternatives: the other likely topics and a person,
        offered when the person says it did not help ("Ce n'était pas ça ?", docs/routing.md)."""
        if decision.action != "answer" or decision.topic not in TOPICS:
            return decision
        likely = self._likely(text, ranking, self.words.names_other_body(text), answered=decision.topic)
        return replace(decision, alternatives=[self._button(n) for n in likely + [self.tree.topic_node("human_handoff")]])

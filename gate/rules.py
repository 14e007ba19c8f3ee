"""The rule router: readable regex cue groups and a weighted vote, and the ``Route`` every router returns.

A router reads a prompt and decides whether invented content is acceptable in the answer:

- ``creative``: the user wants invented, imaginative or original content (stories, poems, letters they will
  send, role-play, hypotheticals, names, slogans, gift or party ideas, alternative uses for objects).
- ``factual``: the user wants true information or practical guidance whose correctness matters (questions
  about the world, lists of real things, explanations, advice, how-to, recommendations, trip plans, recipes).
  When in doubt the prompt is factual: a wrong fact there misleads.

The cues encode what a request asks for, one principle per cue group, each alternative a broad lexical class
(a family of forms, a set of verbs), never the wording of one prompt. The principles:

- C1 an invented text: a compose verb with a verse, narrative, humour, promotional or personal-message form
  (``invented_text``), or a fiction form named alone (``fiction_form``, weak);
- C2 imagination and persona: imagine / pretend (``imagination``), speak as someone else (``persona``);
- C3 a hypothetical or counterfactual premise (``hypothetical``);
- C4 a name, title or slogan to invent (``new_name``);
- C5 a personal choice for an occasion, with no true answer: gifts, costumes, party or date ideas
  (``occasion_choice``);
- C6 something new to devise: a new use for an object, a new game or product (``new_thing``);
- C7 ideas rather than facts (``ideation``, weak);
- C8 a playful or fictional register, or fiction's beings and devices (``playful_register``, ``fiction_world``,
  weak);
- F1 a question about the world (``world_question``);
- F2 a quantity, date, place or origin with one true value (``true_value``);
- F3 a definition, explanation or comparison (``definition_explanation``);
- F4 a list or selection of things that exist (``existing_things``);
- F5 restating a given text: a summary, key points, an outline (``given_text``);
- F6 advice or how-to whose correctness matters (``practical_guidance``);
- F7 a plan or procedure to follow in the real world: trips, recipes, menus, schedules, checklists
  (``practical_plan``);
- F8 expository or argued writing about real things: essays, articles, opinions (``exposition``).

The labelling rules of the dev set decide the borderline kinds (letters the user will send and gift ideas are
creative; trip plans, recipes, opinion essays and advice are factual). The cues were rewritten from these
principles without reading the dev prompts (#14 item 3); ``quco eval --format modes`` reports them in-sample and
leave-prompts-out (:func:`quco.evaluation.modes.leave_prompts_out_rules`), and ``tests/test_router_cues.py``
names each alternative that matches a single dev prompt with the principle it stands for.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from quco.errors import ConfigError

MODES = ("factual", "creative")

@dataclass(frozen=True)
class Route:
    """A routing decision: ``mode`` with a ``confidence`` in [0, 1], the ``router`` that decided, and a
    human-readable ``reason`` (which cues fired, or the classifier's score)."""

    mode: str
    confidence: float
    router: str
    reason: str

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"route mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ConfigError(f"route confidence must lie in [0, 1], not {self.confidence!r}")

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------
# Rule router
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CueGroup:
    """One family of surface cues: a regex (case-insensitive) that votes for ``mode`` with ``weight``."""

    name: str
    mode: str
    weight: float
    pattern: re.Pattern
    description: str
    alternatives: tuple[str, ...] = ()  # the regexes ``pattern`` is the union of

    def restricted(self, keep: set[str]) -> "CueGroup | None":
        """The same group with only the alternatives in ``keep`` (None when none is left)."""
        alts = tuple(a for a in self.alternatives if a in keep)
        return _cue(self.name, self.mode, self.weight, self.description, *alts) if alts else None


def _cue(name: str, mode: str, weight: float, description: str, *alternatives: str) -> CueGroup:
    pattern = re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)
    return CueGroup(name, mode, weight, pattern, description, tuple(alternatives))


def _words(*words: str) -> str:
    """One alternative that matches any of ``words`` (regex fragments) as whole words."""
    return r"\b(?:" + "|".join(words) + r")\b"


# Verbs that ask for a text to be produced (a compose verb, or "tell me a ..." / "give me a ...").
_COMPOSE = (
    r"write|compose|draft|create|craft|pen|generate|produce|invent|make\s+up|come\s+up\s+with|think\s+(?:of|up)|"
    r"dream\s+up|sing|recite|suggest|(?:tell|give)\s+(?:me|us)\s+(?:a|an|some|another|\d+|two|three|five|ten)"
)
# Kinds of text whose content is the writer's invention, by family (principle C1).
_VERSE = r"poems?|poetry|haikus?|limericks?|sonnets?|verses?|rhymes?|lyrics|songs?|raps?|ballads?|odes?|jingles?"
_NARRATIVE = (
    r"stor(?:y|ies)|tales?|fables?|parables?|myths?|legends?|fairy\s*tales?|fiction|fan\s*fic(?:tion)?|novels?|"
    r"chapters?|plots?|scenes?|scripts?|screenplays?|skits?|dialogues?|monologues?|characters?|endings?|"
    r"(?:diary|journal)\s+entr(?:y|ies)"
)
_HUMOUR = r"jokes?|puns?|riddles?|one-?liners?|pick-?up\s+lines?|roasts?|knock[- ]knock"
_PROMOTION = (
    r"slogans?|taglines?|mottos?|ads?|advert\w*|commercials?|(?:sales\s+)?pitch(?:es)?|press\s+releases?|"
    r"product\s+descriptions?"
)
_MESSAGES = (
    r"letters?|e-?mails?|notes?|messages?|cards?|invitations?|speech(?:es)?|toasts?|eulog(?:y|ies)|vows?|"
    r"tributes?|apolog(?:y|ies)|excuses?|tweets?|(?:blog\s+|social\s+media\s+)?posts?|captions?|bios?"
)


def _composes(forms: str) -> str:
    return rf"\b(?:{_COMPOSE})\b(?:\W+\w+){{0,5}}?\W+(?:{forms})\b"


CREATIVE_CUES: tuple[CueGroup, ...] = (
    _cue(
        "invented_text", "creative", 2.0,
        "C1: asks for a text whose content is invented: a compose verb, then (within a few words) a verse, "
        "narrative, humour, promotional or personal-message form (write a poem, tell me a joke, draft a toast)",
        _composes(_VERSE), _composes(_NARRATIVE), _composes(_HUMOUR), _composes(_PROMOTION), _composes(_MESSAGES),
    ),
    _cue(
        "fiction_form", "creative", 1.0,
        "C1 (weak): names a form that is fiction by nature, without a compose verb (a haiku about ..., a short "
        "story in which ...); a question about an existing poem or story outweighs it",
        _words(r"poems?", r"poetry", r"haikus?", r"limericks?", r"sonnets?", r"lyrics", r"fairy\s*tales?",
               r"short\s+stor(?:y|ies)", r"bedtime\s+stor(?:y|ies)", r"fables?", r"fan\s*fic(?:tion)?", r"jokes?"),
    ),
    _cue(
        "imagination", "creative", 2.0,
        "C2: verbs of imagining and make-believe (imagine, pretend, envision, fantasize, daydream)",
        _words(r"imagine[ds]?", r"imagining", r"imaginary", r"pretend(?:s|ing)?", r"envision(?:ing)?",
               r"fantasi[sz](?:e|ing)", r"daydream\w*", r"make[- ]believe"),
    ),
    _cue(
        "persona", "creative", 2.0,
        "C2: the answer is to speak as someone else: role-play, 'you are a ...', 'act as', "
        "'in the voice / style of', 'play the part of', 'from the point of view of a ...'",
        r"\brole[- ]?play\w*",
        r"(?:^|[.!?:]\s+)(?:(?:now\s+)?(?:assume|suppose|say|pretend)\s+(?:that\s+)?)?(?:you\s+are|you're)\s+"
        r"(?:now\s+)?(?:a|an|the)\b",
        r"\b(?:act|behave|respond|answer|speak|talk|write)\s+(?:as|like)\s+(?:if|though|a|an)\b",
        r"\bin\s+the\s+(?:voice|style|manner|words|tone)\s+of\b",
        r"\bplay\s+the\s+(?:role|part)\s+of\b",
        r"\bfrom\s+the\s+(?:perspective|point\s+of\s+view|viewpoint|eyes)\s+of\s+(?:a|an|your)\b",
    ),
    _cue(
        "hypothetical", "creative", 2.0,
        "C3: a counterfactual or hypothetical premise: what if, if you could / were, would you rather, "
        "in a world where, suppose, what would you do / feel / say",
        r"\bwhat\s+if\b",
        r"\bif\s+(?:you|i|we|one|someone|everyone|humans|people)\s+(?:could|were|woke|became|lived|ruled|won)\b",
        r"\bwould\s+you\s+rather\b",
        r"\b(?:in\s+)?a\s+world\s+(?:where|in\s+which|without)\b",
        r"\bhypothetical(?:ly)?\b|(?:^|[.!?]\s+)suppos(?:e|ing)\b",
        r"\b(?:what|how)\s+would\s+(?:you|it|life|the\s+world)\s+(?:do|feel|say|wish|be\s+like|look\s+like)\b",
        r"\bwhat\s+would\s+happen\s+if\b",
    ),
    _cue(
        "new_name", "creative", 2.0,
        "C4: a name, title or slogan to invent for something new (names for ..., a good name for ..., what "
        "should I call ..., a tagline); 'the name for' is a lookup and does not count",
        r"\b(?:some|good|cool|creative|catchy|clever|funny|possible|new|unique|\d+|three|five|ten)\s+(?:\w+\s+)?"
        r"(?:names|titles|nicknames)\b",
        r"\b(?:name|title)\s+(?:ideas?|suggestions?)\b",
        r"\ban?\s+(?:\w+\s+)?(?:name|title|nickname)\s+for\b",
        r"\b(?:should|could|can|to|would)\s+(?:i|we|you)?\s*(?:name|call|title)\s+(?:my|our|a|an|this|the|it|him|"
        r"her|them)\b",
        _words(r"slogans?", r"taglines?", r"mottos?", r"catch\s*phrases?", r"brand\s+names?", r"nicknames?"),
    ),
    _cue(
        "occasion_choice", "creative", 2.0,
        "C5: something personal to choose or devise for an occasion, with no true answer: gifts, costumes, party "
        "themes, surprises, date or celebration ideas",
        _words(r"gifts?", r"costumes?", r"surprises?", r"party\s+themes?"),
        r"\b(?:ideas?|themes?|plans?|suggestions?)\s+(?:[\w']+\s+){0,3}?(?:for|on)\s+(?:[\w']+\s+){0,3}?"
        r"(?:birthday|anniversary|wedding|party|date|celebration|holiday|shower)s?\b",
        r"\b(?:birthday|anniversary|wedding|party|date|celebration|holiday)\s+(?:ideas?|themes?)\b",
    ),
    _cue(
        "new_thing", "creative", 2.0,
        "C6: something new to devise: a new use for an existing object (unusual uses, repurpose, upcycle, what can "
        "I do with an old ...), or a new game, sport, creature or product (invent / design / describe a new ...)",
        r"\b(?:other|alternative|unusual|unexpected|new|novel|creative|clever|weird|strange|different)\s+"
        r"(?:uses|ways\s+(?:to|of)\s+us(?:e|ing))\b",
        _words(r"re-?purpos\w*", r"upcycl\w*"),
        r"\b(?:can|could)\s+(?:i|you|we|one)\s+do\s+with\s+(?:a|an|some|my|old|empty|spare|broken)\b",
        r"\b(?:invent|design|make\s+up|come\s+up\s+with|think\s+(?:of|up)|dream\s+up|imagine|describe)\s+"
        r"(?:a|an|some|\d+|two|three|five)\s+(?:\w+\s+)?(?:new|original|novel|fictional|imaginary|made[- ]up)\b",
    ),
    _cue(
        "ideation", "creative", 1.0,
        "C7 (weak): asks for ideas rather than facts (brainstorm, ideas, come up with, think up, invent)",
        _words(r"brainstorm\w*", r"ideas?", r"invent", r"make\s+up", r"come\s+up\s+with", r"(?:think|dream)\s+up"),
    ),
    _cue(
        "playful_register", "creative", 1.0,
        "C8 (weak): the tone asked for is play or fiction (funny, silly, whimsical, witty, fictional, fantasy, "
        "creative, imaginative)",
        _words(r"funny", r"humou?rous", r"hilarious", r"silly", r"whimsical", r"witty", r"absurd", r"quirky",
               r"playful", r"creative(?:ly)?", r"imaginative", r"fictional", r"fictitious", r"made[- ]up",
               r"fantasy", r"fantastical", r"surreal"),
    ),
    _cue(
        "fiction_world", "creative", 1.0,
        "C8 (weak): beings and devices that exist only in fiction (dragons, unicorns, aliens, wizards, magic, "
        "superpowers, time machines, talking animals)",
        _words(r"dragons?", r"unicorns?", r"aliens?", r"wizards?", r"witch(?:es)?", r"fair(?:y|ies)", r"elves",
               r"elf", r"mermaids?", r"goblins?", r"trolls?", r"zombies?", r"vampires?", r"superheroe?s?",
               r"super\s*powers?", r"magic(?:al)?", r"spells?", r"time\s+(?:travel\w*|machines?)", r"teleport\w*",
               r"talking\s+\w+"),
    ),
)

FACTUAL_CUES: tuple[CueGroup, ...] = (
    _cue(
        "world_question", "factual", 1.0,
        "F1: a question about the world: opens with who/when/where/which/why/how, what is/are/was/were/does, or a "
        "yes/no auxiliary ('how to / do / can I' is F6's, not counted twice)",
        r"^\W*(?:who|whom|whose|when|where|which|why)\b", r"^\W*how\b(?!\s+(?:to|do|can|should|could)\b)",
        r"^\W*what(?:'s|\s+(?:is|are|was|were|does|do|did|kind|type|year))\b",
        r"^\W*(?:is|are|was|were|did|does|do|can|could|has|have|will)\s+\w+",
    ),
    _cue(
        "true_value", "factual", 1.0,
        "F2: asks for a quantity, date, place or origin that has one true value (how many, what year, population, "
        "capital of, who founded / invented / discovered)",
        r"\bhow\s+(?:many|much|long|old|far|big|tall|fast|often|deep|high|large)\b",
        _words(r"(?:what|which)\s+year", r"dates?", r"population", r"capital\s+of", r"located", r"born",
               r"founded", r"invented\s+by", r"who\s+invented", r"discovered", r"died", r"century"),
    ),
    _cue(
        "definition_explanation", "factual", 1.0,
        "F3: a definition, an explanation or a comparison of real things (define, meaning, explain, why, "
        "difference between, compare, how does ... work)",
        _words(r"defin(?:e|ed|ition)s?", r"meaning", r"means?", r"stands?\s+for", r"explain\w*", r"explanation",
               r"differen(?:ce|t)s?\s+between", r"compare[ds]?", r"comparison", r"contrast", r"versus", r"vs\.?"),
        r"\bhow\s+(?:does|do|did)\s+(?:\w+\s+){1,4}?work\b",
    ),
    _cue(
        "existing_things", "factual", 1.0,
        "F4: a list or selection of things that exist (list, name the, examples of, types of, the best / most / "
        "largest ...)",
        _words(r"list", r"enumerate", r"name\s+(?:the|some|all|a\s+few|\d+|two|three|four|five|ten)",
               r"examples?\s+of", r"types?\s+of", r"kinds?\s+of"),
        _words(r"best", r"top", r"most", r"famous", r"popular", r"greatest", r"largest", r"biggest", r"oldest",
               r"tallest", r"richest", r"highest", r"common"),
    ),
    _cue(
        "given_text", "factual", 1.0,
        "F5: restating or condensing a given text (summarize, summary, key points, outline, paraphrase, tl;dr)",
        _words(r"summar(?:y|ies|i[sz]e[ds]?|i[sz]ing)", r"key\s+points", r"main\s+points", r"outline",
               r"paraphrase", r"tl;?dr", r"in\s+(?:one|a|two|three)\s+sentences?"),
    ),
    _cue(
        "practical_guidance", "factual", 1.0,
        "F6: advice or how-to whose correctness matters (how to, how do I, tips, advice, recommend, steps, "
        "should I, ways to, pros and cons)",
        r"\bhow\s+(?:to|do|can|should|could)\b",
        _words(r"tips?", r"advice", r"advise", r"recommend\w*", r"suggestions?", r"steps?", r"should\s+i",
               r"ways?\s+to", r"guide", r"pros\s+and\s+cons", r"benefits?", r"avoid", r"prevent", r"improve"),
    ),
    _cue(
        "practical_plan", "factual", 2.0,
        "F7: a plan or procedure to follow in the real world (trips, itineraries, recipes, menus, schedules, "
        "routines, budgets, packing / shopping / to-do lists, activities)",
        _words(r"trips?", r"itinerar(?:y|ies)", r"travel\w*", r"vacation", r"visit\w*", r"tours?",
               r"things\s+to\s+do\s+in"),
        _words(r"recipes?", r"ingredients", r"cook\w*", r"bake", r"baking", r"menus?", r"meal\s+plans?", r"meals?"),
        _words(r"schedules?", r"routines?", r"workouts?", r"training\s+plans?", r"budget\w*",
               r"(?:packing|shopping|grocery|to-?do|check)\s*lists?", r"activities"),
    ),
    _cue(
        "exposition", "factual", 1.0,
        "F8: expository or argued writing about real things (essay, article, report, paragraph, argue, persuade, "
        "opinion, point of view)",
        _words(r"essays?", r"articles?", r"reports?", r"paragraphs?", r"argu(?:e|ing|ment)s?", r"persua\w+",
               r"opinions?", r"point\s+of\s+view", r"perspective", r"debate"),
    ),
)

DEFAULT_CUES: tuple[CueGroup, ...] = CREATIVE_CUES + FACTUAL_CUES


class RuleRouter:
    """Transparent default router: regex cue groups and a weighted vote.

    Decision rule: every cue group that matches the prompt adds its ``weight`` to its mode's score (a group
    counts once however often it matches). The prompt is ``creative`` when the creative score is larger than
    the factual score, and ``factual`` otherwise, including when no cue fires (factual is the safe default:
    a wrong fact misleads, a dull poem does not). A creative cue that names the request itself (an invented
    text, imagination, a persona, a hypothetical, a name to invent, an occasion choice, something new to
    devise) weighs 2; weak creative hints (a fiction form named alone, ideas, a playful register, fiction's
    creatures) weigh 1, so they need help to outvote a question about the world. Factual cues weigh 1, a real-world plan (trip, recipe,
    schedule) 2: such plans are composed, yet their correctness matters.

    ``confidence`` grows with the margin: ``0.5 + 0.45 * (1 - exp(-margin / 2))`` (0.5 on a tie, about 0.78 at a
    margin of 2). It is a readable heuristic, not a calibrated probability.
    """

    name = "rules"

    def __init__(self, cues: tuple[CueGroup, ...] = DEFAULT_CUES):
        if not cues:
            raise ConfigError("RuleRouter needs at least one cue group")
        for cue in cues:
            if cue.mode not in MODES:
                raise ConfigError(f"cue group {cue.name!r} votes for unknown mode {cue.mode!r}")
        self.cues = tuple(cues)

    def matches(self, prompt: str) -> list[tuple[CueGroup, str]]:
        """The cue groups that fire on ``prompt``, each with the first text it matched."""
        fired = []
        for cue in self.cues:
            m = cue.pattern.search(prompt)
            if m:
                fired.append((cue, m.group(0)))
        return fired

    def features(self, prompt: str) -> np.ndarray:
        """One 0/1 indicator per cue group, in ``self.cues`` order (used as extra model features)."""
        return np.array([1.0 if c.pattern.search(prompt) else 0.0 for c in self.cues], dtype=np.float32)

    def __call__(self, prompt: str) -> Route:
        fired = self.matches(prompt)
        totals = {m: 0.0 for m in MODES}
        for cue, _ in fired:
            totals[cue.mode] += cue.weight
        mode = "creative" if totals["creative"] > totals["factual"] else "factual"
        margin = abs(totals["creative"] - totals["factual"])
        confidence = 0.5 + 0.45 * (1.0 - float(np.exp(-margin / 2.0)))

        def listed(m: str) -> str:
            parts = [f"{c.name} ({text.strip()!r})" for c, text in fired if c.mode == m]
            return ", ".join(parts) or "none"

        reason = (
            f"creative cues: {listed('creative')}; factual cues: {listed('factual')}; "
            f"score {totals['creative']:g} vs {totals['factual']:g}"
        )
        if not fired:
            reason = "no cue fired; factual by default"
        return Route(mode, round(confidence, 4), self.name, reason)

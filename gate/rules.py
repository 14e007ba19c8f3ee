"""The rule router: readable regex cue groups and a weighted vote, and the ``Route`` every router returns.

A router reads a prompt and decides whether invented content is acceptable in the answer:

- ``creative``: the user wants invented, imaginative or original content (stories, poems, letters they will
  send, role-play, hypotheticals, names, slogans, gift or party ideas, alternative uses for objects).
- ``factual``: the user wants true information or practical guidance whose correctness matters (questions
  about the world, lists of real things, explanations, advice, how-to, recommendations, trip plans, recipes).
  When in doubt the prompt is factual: a wrong fact there misleads.

Each cue group names one kind of request (what is asked for), and its alternatives are the common words of that
kind, not the words of one prompt. The dev prompts were read while writing them, so the rules' dev figures are
in-sample; ``quco.evaluation.modes.leave_prompts_out_rules`` measures them on prompts each cue could not have
come from (README, "Evaluation").
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


# Kinds of composed text whose content is the writer's own invention.
_FORMS = (
    r"poems?|poetry|haikus?|limericks?|sonnets?|verses?|rhymes?|lyrics|songs?|raps?|ballads?|jingles?|"
    r"(?:short\s+)?stor(?:y|ies)|tales?|fables?|fairy\s*tales?|scenes?|scripts?|screenplays?|dialogues?|"
    r"monologues?|letters?|e-?mails?|notices?|invitations?|speech(?:es)?|toasts?|eulogy|tributes?|"
    r"manifesto(?:e?s)?|rants?|press\s+releases?|ads?|advert(?:isement)?s?|commercials?|slogans?|taglines?|"
    r"horoscopes?|diary(?:\s+entry)?|journal\s+entry|reviews?|prefaces?|prologues?|epilogues?|endings?|"
    r"opening\s+(?:passage|lines?|paragraph)|jokes?|riddles?|puns?|blog\s+posts?|tweets?|complaints?|"
    r"apolog(?:y|ies)|excuses?|responses?|repl(?:y|ies)|(?:writing\s+)?prompts?|plots?"
)
_COMPOSE = (
    r"write|compose|draft|create|craft|make|tell\s+(?:me|us)\s+an?|pen|generate|provide|complete|invent|"
    r"come\s+up\s+with"
)

CREATIVE_CUES: tuple[CueGroup, ...] = (
    _cue(
        "compose_form", "creative", 2.0,
        "asks to compose a kind of text whose content is invented (write a poem / story / song / letter ...)",
        rf"\b(?:{_COMPOSE})\b(?:\W+\w+){{0,5}}?\W+(?:{_FORMS})\b",
    ),
    _cue(
        "role_play", "creative", 2.0,
        "imagine, pretend, role-play, 'assume you are', 'in the style of'",
        r"\bimagine\b", r"\bpretend\b", r"\brole[- ]?play", r"\bassume\s+you\s+are\b", r"\bin\s+the\s+style\s+of\b",
        r"\bact\s+as\s+(?:a|an|if)\b",
    ),
    _cue(
        "hypothetical", "creative", 2.0,
        "hypotheticals: what if, if you could/were/had, what would you do, what is it like to be, would you rather",
        r"\bwhat\s+if\b", r"\bif\s+you\s+(?:could|were|had|found|woke|lived|ruled|won)\b",
        r"\bwhat\s+would\s+(?:you|it|life|the\s+world|\w+\s+\w+)\s+(?:do|be\s+like|feel|think|say|look\s+like)\b",
        r"\bhow\s+would\s+(?:it|you)\s+feel\b", r"\bwhat\s+(?:is|would)\s+it\s+(?:be\s+)?like\s+to\s+(?:be|live)\b",
        r"\bwould\s+you\s+rather\b",
    ),
    _cue(
        "invented_names", "creative", 2.0,
        "names, titles, slogans or taglines to invent",
        r"\bnames?\s+(?:for|i\s+could|we\s+could|to\s+call)\b", r"\bslogans?\b", r"\btaglines?\b",
        r"\bcatch\s*phrases?\b", r"\bmottos?\b", r"\btitles?\s+for\b",
        r"\b(?:brand|product|band|team|company|business|shop|pet|dog|cat|baby)\s+names?\b",
    ),
    _cue(
        "gifts_parties", "creative", 2.0,
        "gift, party, costume and date ideas",
        r"\bgifts?\b", r"\bcostumes?\b", r"\b(?:birthday|party|celebration)\b",
        r"\bdate\s+ideas?\b",
    ),
    _cue(
        "alternative_uses", "creative", 2.0,
        "new or alternative uses for an object ('uses for a brick', 'repurpose')",
        r"\b(?:other|alternative|unusual|new|creative|weird)\s+(?:uses|ways?\s+to\s+use)\b",
        r"\buses?\s+for\s+(?:a|an|my|your)\b", r"\brepurpos",
    ),
    _cue(
        "excuses_schemes", "creative", 2.0,
        "excuses to give someone",
        r"\bexcuses?\b",
    ),
    _cue(
        "ideation", "creative", 1.0,
        "brainstorm, invent, make up, come/think/dream up, ideas",
        r"\bbrainstorm", r"\binvent\b", r"\bmake\s+up\b", r"\b(?:come|think|dream)\s+up\b", r"\bideas?\b",
    ),
    _cue(
        "playful", "creative", 1.0,
        "creative, funny, whimsical, jokes, fictional, fantasy; fiction words (aliens, dragons, magic, superpowers)",
        r"\bcreative(?:ly)?\b", r"\bfunny\b", r"\bhumou?rous\b", r"\bwhimsical\b", r"\bsilly\b", r"\bwitty\b",
        r"\bcatchy\b", r"\bfictional\b", r"\bfantasy\b", r"\baliens?\b", r"\bdragons?\b", r"\bunicorns?\b",
        r"\bmagic(?:al)?\b", r"\bsuperpowers?\b", r"\btime\s+travel", r"\bjokes?\b", r"\bpuns?\b",
    ),
)

FACTUAL_CUES: tuple[CueGroup, ...] = (
    _cue(
        "world_question", "factual", 1.0,
        "a question about the world: starts with who/when/where/which/why/how, or what is/are/was/were",
        r"^\W*(?:who|whom|whose|when|where|which|why|how)\b", r"^\W*what(?:'s|\s+(?:is|are|was|were|does|do|did))\b",
        r"^\W*(?:is|are|was|were|did|does|do|can|could|has|have|will)\s+\w+",
    ),
    _cue(
        "real_list", "factual", 1.0,
        "a list or selection of real things (list / name / give me the ... best, top, most, famous, recent)",
        r"\b(?:list|name|pick)\b", r"\b(?:best|top|most|famous|popular|recent|greatest|largest|common)\b",
    ),
    _cue(
        "advice", "factual", 1.0,
        "how-to, tips, advice, recommendations, steps, what should I ...",
        r"\bhow\s+(?:to|do|can|should)\b", r"\btips?\b", r"\badvice\b", r"\brecommend", r"\bsuggest",
        r"\bsteps?\b", r"\bshould\s+i\b", r"\bways?\s+to\b", r"\bguide\b",
    ),
    _cue(
        "explanation", "factual", 1.0,
        "definitions, explanations, comparisons, expository writing (essay, paragraph, passage on a topic)",
        r"\bdefin(?:e|ition)\b", r"\bmeaning\b", r"\bmean\b", r"\bexplain\b", r"\bdescribe\b", r"\bdifferences?\b",
        r"\bcompare\b", r"\bessay\b", r"\bparagraph\b", r"\bpassage\b", r"\barticle\b", r"\bsummar",
        r"\bpoint\s+of\s+view\b", r"\bargu(?:e|ing|ment)\b",
    ),
    _cue(
        "plans_recipes", "factual", 2.0,
        "trips, itineraries, places to visit, recipes, menus, shopping and packing lists",
        r"\btrip\b", r"\bitinerar", r"\btravel", r"\bvacation\b", r"\bvisit", r"\brecipes?\b", r"\bmenu\b",
        r"\bingredients\b", r"\bshopping\s+list\b", r"\bpacking\s+list\b", r"\bchecklist\b",
    ),
)

DEFAULT_CUES: tuple[CueGroup, ...] = CREATIVE_CUES + FACTUAL_CUES


class RuleRouter:
    """Transparent default router: regex cue groups and a weighted vote.

    Decision rule: every cue group that matches the prompt adds its ``weight`` to its mode's score (a group
    counts once however often it matches). The prompt is ``creative`` when the creative score is larger than
    the factual score, and ``factual`` otherwise, including when no cue fires (factual is the safe default:
    a wrong fact misleads, a dull poem does not). Strong creative cues (composing a poem, story or letter,
    role-play, hypotheticals, invented names, gift/party ideas, alternative uses, excuses) weigh 2; weak
    creative hints (brainstorm, ideas, funny, fictional) weigh 1, so they need help to outvote a question
    about the world. Trip plans and recipes weigh 2 on the factual side.

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

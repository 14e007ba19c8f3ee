"""The rule router's cues, principle by principle (#14 item 3).

Every prompt here is hand-written for this file, none is taken from the dev set. Two slow tests read the dev set
(when ``../shared`` is present): one fails if a cue alternative matches exactly one dev prompt without a stated
principle in :data:`SINGLE_PROMPT_ALLOWED` (an alternative that only one prompt uses is the mark of a cue copied
from that prompt), the other if the rules fall under their dev floor.
"""
from __future__ import annotations

import json
import re

import pytest

from conftest import shared_data
from quco.evaluation.modes import alternative_matches
from quco.gate.rules import CREATIVE_CUES, DEFAULT_CUES, FACTUAL_CUES, RuleRouter

# (principle, cue group expected to fire, prompt); each prompt must route to the group's mode.
CREATIVE_BY_PRINCIPLE = [
    ("C1 invented text", "invented_text", "Write a limerick about a forgetful accountant"),
    ("C1 invented text", "invented_text", "Tell me a joke about penguins"),
    ("C1 invented text", "invented_text", "Draft a toast for my sister's wedding"),
    ("C1 invented text", "invented_text", "Compose a jingle for a bakery that sells only bagels"),
    ("C1 invented text", "invented_text", "Could you write a short story about a lighthouse keeper?"),
    ("C1 invented text", "invented_text", "Write a product description for a self-tying shoe"),
    ("C1 invented text", "invented_text", "Write a cover letter for a junior accountant job"),
    ("C1 fiction form", "fiction_form", "A haiku about the first snow, please"),
    ("C2 imagination", "imagination", "Imagine you woke up as a cat. Describe your morning."),
    ("C2 imagination", "imagination", "Pretend to be a medieval knight and greet me"),
    ("C2 persona", "persona", "Role-play a customer service agent at a spaceship dealership"),
    ("C2 persona", "persona", "You are a pirate captain. Give a speech to your crew."),
    ("C2 persona", "persona", "Answer in the style of a Victorian butler: should I bring an umbrella?"),
    ("C2 persona", "persona", "From the point of view of a dog, describe a thunderstorm"),
    ("C2 persona", "persona", "Why do cats purr? Answer as a pirate."),
    ("C3 hypothetical", "hypothetical", "What if the Moon were twice as large?"),
    ("C3 hypothetical", "hypothetical", "If you could live in any century, which would you pick and why?"),
    ("C3 hypothetical", "hypothetical", "Would you rather fly or be invisible?"),
    ("C3 hypothetical", "hypothetical", "Describe a world where nobody needs sleep"),
    ("C4 new name", "new_name", "Suggest some catchy names for my bicycle repair shop"),
    ("C4 new name", "new_name", "What should I name my new goldfish?"),
    ("C4 new name", "new_name", "I need a tagline for a vegan burger truck"),
    ("C4 new name", "new_name", "What's a good name for a golden retriever?"),
    ("C5 occasion choice", "occasion_choice", "What gift should I get my grandfather who loves fishing?"),
    ("C5 occasion choice", "occasion_choice", "Halloween costume for a tall skinny guy?"),
    ("C5 occasion choice", "occasion_choice", "Help me plan a surprise for my wife's birthday"),
    ("C5 occasion choice", "occasion_choice", "Suggest a theme for my daughter's birthday party"),
    ("C6 new thing", "new_thing", "What are some unusual uses for an empty wine bottle?"),
    ("C6 new thing", "new_thing", "How could I repurpose an old ladder?"),
    ("C6 new thing", "new_thing", "What can I do with a broken umbrella?"),
    ("C6 new thing", "new_thing", "Describe a new sport that combines chess and boxing"),
    ("C6 new thing", "new_thing", "Design a new board game for four players"),
    ("C7 ideation", "ideation", "Brainstorm ideas for a science fair"),
    ("C8 playful register", "playful_register", "Give me whimsical plans for a rainy Sunday"),
    ("C8 fiction world", "fiction_world", "Give me some ideas involving dragons and time machines"),
]

FACTUAL_BY_PRINCIPLE = [
    ("F1 world question", "world_question", "Who painted the ceiling of the Sistine Chapel?"),
    ("F1 world question", "world_question", "Is a tomato a fruit?"),
    ("F2 true value", "true_value", "How many bones are in the adult human body?"),
    ("F2 true value", "true_value", "Tell me the population of Iceland"),
    ("F3 definition / explanation", "definition_explanation", "Define photosynthesis"),
    ("F3 definition / explanation", "definition_explanation", "Explain the difference between weather and climate"),
    ("F3 definition / explanation", "definition_explanation", "How does a refrigerator work?"),
    ("F4 existing things", "existing_things", "List the noble gases"),
    ("F4 existing things", "existing_things", "Give me some examples of igneous rocks"),
    ("F5 given text", "given_text", "Summarize the plot of Moby-Dick in two sentences"),
    ("F5 given text", "given_text", "Give me the key points of the Treaty of Versailles"),
    ("F6 practical guidance", "practical_guidance", "How do I change a flat tire?"),
    ("F6 practical guidance", "practical_guidance", "Any tips for learning to play the guitar?"),
    ("F7 practical plan", "practical_plan", "Plan a four day itinerary in Lisbon"),
    ("F7 practical plan", "practical_plan", "Give me a recipe for lentil soup"),
    ("F7 practical plan", "practical_plan", "Make a packing list for a week of camping"),
    ("F8 exposition", "exposition", "Write an essay arguing for a four day work week"),
    ("F8 exposition", "exposition", "Write a persuasive paragraph on why Chicago is the best city to live in"),
]


@pytest.mark.parametrize("principle, group, prompt", CREATIVE_BY_PRINCIPLE + FACTUAL_BY_PRINCIPLE)
def test_each_principle_fires_its_group_and_decides(principle, group, prompt):
    rules = RuleRouter()
    fired = {c.name: c.mode for c, _ in rules.matches(prompt)}
    assert group in fired, f"{principle}: {rules(prompt).reason}"
    assert rules(prompt).mode == fired[group], f"{principle}: {rules(prompt).reason}"


@pytest.mark.parametrize("prompt", [
    "Who wrote the poem The Raven?",  # a fiction form, asked about as a fact
    "What is the story behind the Statue of Liberty?",
    "Write a summary of the French Revolution",  # a compose verb, but a summary of real events
    "When was the first time travel novel published?",  # fiction's device, asked about as a date
    "What is the name for a baby kangaroo?",  # 'the name for': a lookup, not a name to invent
    "Explain inflation from the perspective of an economist",  # a real expert's view, explained
    "What are the lyrics of the national anthem of France?",
    "Create a new Python virtual environment",  # 'create a new' in a how-to is no invention
    "Give me a menu for a dinner party",  # a real-world plan (recipes and menus are factual)
    "What are some fun team-building activities for a remote team",  # activity suggestions are factual
    "Write a short essay about why the Yankees are the best baseball team",  # an opinion essay on a real team
])
def test_lookups_real_plans_and_opinions_on_real_things_stay_factual(prompt):
    assert RuleRouter()(prompt).mode == "factual", RuleRouter()(prompt).reason


def test_every_group_states_its_principle_and_is_made_of_alternatives():
    names = [c.name for c in DEFAULT_CUES]
    assert len(names) == len(set(names))
    for cue in DEFAULT_CUES:
        assert re.match(r"[CF]\d", cue.description), f"{cue.name}: description must start with its principle"
        assert cue.description[0] == ("C" if cue.mode == "creative" else "F")
        assert cue.alternatives and all(re.compile(a) for a in cue.alternatives)
    tested = {g for _, g, _ in CREATIVE_BY_PRINCIPLE + FACTUAL_BY_PRINCIPLE}
    assert tested == set(names), "each cue group has a hand-written prompt here"
    assert {c.mode for c in CREATIVE_CUES} == {"creative"} and {c.mode for c in FACTUAL_CUES} == {"factual"}


def test_alternative_matches_counts_prompts_per_alternative():
    prompts = ["Write a poem about rain", "Tell me a joke", "How many moons has Mars?", "List the moons of Mars"]
    labels = ["creative", "creative", "factual", "factual"]
    rows = alternative_matches(prompts, labels)
    assert len(rows) == sum(len(c.alternatives) for c in DEFAULT_CUES)
    by = {(r["group"], r["alternative"]): r for r in rows}
    verse = next(r for (g, a), r in by.items() if g == "invented_text" and "poems?" in a)
    humour = next(r for (g, a), r in by.items() if g == "invented_text" and "jokes?" in a and "poems?" not in a)
    assert (verse["prompts"], verse["own_mode"]) == (1, 1) and (humour["prompts"], humour["own_mode"]) == (1, 1)
    how_many = next(r for (g, a), r in by.items() if g == "true_value" and "many" in a)
    assert how_many["prompts"] == 1 and how_many["own_mode"] == 1
    lists = next(r for (g, a), r in by.items() if g == "existing_things" and "enumerate" in a)
    assert lists["prompts"] == 1
    assert all(r["prompts"] == 0 for r in rows if r["group"] == "hypothetical")


# Alternatives that match exactly one dev prompt, each with the principle it encodes (it was written from the
# principle, not from that prompt: the cue groups were rewritten without reading the dev prompts). The key is a
# piece of the alternative's regex. A new single-prompt alternative fails the test below until it is named here
# with a principle, or made a broader class.
SINGLE_PROMPT_ALLOWED = {
    r"slogans?|taglines?|mottos?|ads?": "C1: promotional copy (slogans, ads, commercials, pitches) is invented text",
    r"\brole[- ]?play": "C2: role-play is the plainest request to speak as someone else",
    r"(?:you\s+are|you're)": "C2: 'you are a ...' casts the answerer as a persona",
    r"in\s+the\s+(?:voice|style|manner|words|tone)\s+of": "C2: writing in another's voice is a persona",
    r"a\s+world\s+(?:where": "C3: 'a world where ...' sets up a counterfactual premise",
    r"hypothetical(?:ly)?": "C3: the word hypothetical names a hypothetical premise",
    r"re-?purpos": "C6: repurposing and upcycling are new uses of an existing object",
    r"summar(?:y|ies": "F5: a summary, key points or an outline restate a given text",
}


@pytest.mark.slow
def test_no_dev_prompt_alone_accounts_for_a_cue_alternative():
    path = shared_data() / "modes" / "modes_dev.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts = alternative_matches([r["prompt"] for r in rows], [r["label"] for r in rows])
    single = [r for r in counts if r["prompts"] == 1]
    unexplained = [f"{r['group']}: {r['alternative'][:80]}" for r in single
                   if not any(key in r["alternative"] for key in SINGLE_PROMPT_ALLOWED)]
    assert not unexplained, "alternatives matching a single dev prompt, with no stated principle: " + "; ".join(
        unexplained)
    # every allow-list entry still names an alternative (a stale entry would hide nothing and mislead)
    alternatives = [a for c in DEFAULT_CUES for a in c.alternatives]
    assert all(any(key in a for a in alternatives) for key in SINGLE_PROMPT_ALLOWED)


@pytest.mark.slow
def test_rules_keep_their_dev_floor_whole_file_and_leave_prompts_out():
    """A routing regression fails here: floors a little under the figures measured when the cues were written
    (whole file 0.814, leave-prompts-out 0.785 on seed 0; docs/eval.md, "Routing")."""
    from quco.evaluation.modes import evaluate_modes

    path = shared_data() / "modes" / "modes_dev.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rules = evaluate_modes(rows, routers=["rules"])["routers"]["rules"]
    assert rules["balanced_accuracy"] >= 0.80 and rules["recall"]["factual"] >= 0.97, rules["confusion"]
    lpo = rules["leave_prompts_out"]
    assert lpo["balanced_accuracy"] >= 0.77 and lpo["balanced_accuracy"] <= rules["balanced_accuracy"]

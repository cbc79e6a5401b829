"""The hint rules, loaded from the YAML files in ``hints/rules/`` and validated at start.

A team lead edits those files; a mistake (a missing field, a misspelt code, a bad severity)
stops start-up with the file and the field named, instead of silently dropping a hint.
"""

from __future__ import annotations

import json
import string
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ferryman.cases.schema import Policy
from ferryman.hints.matching import Negation, Phonetics, PhraseSet

RULES_DIR = Path(__file__).with_name("rules")
HINT_CODES = ("avoid_topic", "escalation", "complaint_risk", "hardship", "offer_plan", "card_status",
              "debt_breakdown", "promise_to_pay", "agent_compliance", "third_party", "disclosure_missing")
Severity = Literal["info", "warning", "critical"]
Speaker = Literal["customer", "agent", "any"]


class RulesError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Intent(_Strict):
    speaker: Speaker = "customer"
    phrases: list[str] = Field(min_length=1)
    exclude: list[str] = []
    negatable: bool = True


ENGINE_INTENTS = ("complaint", "hardship_job", "hardship_illness", "hardship_business", "hardship_waiting",
                  "hardship_cash", "ask_split", "ask_reduce", "ask_delay", "ask_card", "dispute_amount", "promise",
                  "third_party", "identity_confirmed", "handover")


class IntentsFile(_Strict):
    intents: dict[str, Intent]
    negators: list[str]
    not_negators: list[str] = []
    scope_negators: list[str] = []
    scope_chars: int = Field(0, ge=0, le=20)
    scope_breakers: list[str] = []

    @model_validator(mode="after")
    def _engine_intents_present(self) -> "IntentsFile":
        missing = [name for name in ENGINE_INTENTS if name not in self.intents]
        if missing:
            raise ValueError(f"the engine needs these intents: {missing}")
        return self


class CardWording(_Strict):
    title: str
    detail: str
    suggestion: str

    @field_validator("title", "detail", "suggestion")
    @classmethod
    def _template(cls, text: str) -> str:
        """{fields} are plain names the engine fills (a missing one stays empty); a broken brace or
        an attribute or index inside one would fail, or leak, mid-call."""
        try:
            fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)
                      if name is not None]
        except ValueError as exc:
            raise ValueError(f"{exc} in {text!r} (write {{{{ and }}}} for a literal brace)") from None
        for name, spec, conversion in fields:
            if not name.isidentifier() or spec or conversion:
                raise ValueError(f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} "
                                 f"in {text!r}: a field is a plain name such as {{topic}}, no format")
        return text


class Card(CardWording):
    severity: Severity
    severity_when_history: Severity | None = None
    priority: int = Field(ge=1, le=9)
    cooldown_s: float = Field(ge=0)
    once_per_call: bool = False
    case_unknown: CardWording | None = None     # the wording on a call nobody registered

    def wording(self, case_known: bool) -> CardWording:
        return self if case_known or self.case_unknown is None else self.case_unknown


class CardsFile(_Strict):
    codes: dict[str, Card]

    @model_validator(mode="after")
    def _every_code_once(self) -> "CardsFile":
        missing, unknown = set(HINT_CODES) - set(self.codes), set(self.codes) - set(HINT_CODES)
        if missing or unknown:
            raise ValueError(f"codes must be exactly the hint codes; missing {sorted(missing)}, "
                             f"unknown {sorted(unknown)}")
        return self


class Topic(_Strict):
    aliases: list[str] = []
    words: list[str] = Field(min_length=1)
    pronouns: list[str] = []
    not_about: list[str] = Field([], alias="not")


class TopicsFile(_Strict):
    carry_turns: int = Field(2, ge=0, le=10)
    topics: dict[str, Topic]


class SentimentCategory(_Strict):
    weight: float
    words: list[str]
    phonetic: bool = Field(True, description="also match by sound; off for short swear words (妈的 ~ 妈得)")


class Intensifiers(_Strict):
    factor: float = Field(gt=0)
    words: list[str]


class SentimentFile(_Strict):
    categories: dict[str, SentimentCategory]
    intensifiers: Intensifiers
    exclamation: float = Field(ge=0)
    escalate_utterance: float = Field(gt=0)
    escalate_window: float = Field(gt=0)
    window_utterances: int = Field(ge=1)
    decay: float = Field(gt=0, le=1)
    strong: list[str]
    strong_except: list[str] = []


class Violation(_Strict):
    problem: str
    why: str
    instead: str
    phrases: list[str] = []


class Waivers(Violation):
    waive_words: list[str]
    objects: dict[Literal["principal", "interest", "late_fee", "overlimit_fee"], list[str]]


class ChecklistItem(_Strict):
    label: str
    phrases: list[str] = Field(min_length=1)


class Checklist(_Strict):
    deadline_agent_s: float = Field(gt=0)
    deadline_call_s: float = Field(gt=0)
    items: dict[str, ChecklistItem] = Field(min_length=1)


class ComplianceFile(_Strict):
    threats: Violation
    insults: Violation
    waivers: Waivers
    disclosure: Violation
    learned: Violation
    checklist: Checklist


class PhoneticFile(_Strict):
    fuzzy_initials: list[tuple[str, str]] = []
    fuzzy_finals: list[tuple[str, str]] = []
    confusable_syllables: list[tuple[str, str]] = []


class Counterfactual(_Strict):
    conditions: list[str]
    consequences: list[str]


class Question(_Strict):
    endings: list[str]
    words: list[str]


class PromiseWords(_Strict):
    commit: list[str]
    all: list[str]
    minimum: list[str]
    first_instalment: list[str]
    past: list[str]
    counterfactual: Counterfactual
    question: Question
    default_payday: int | None = Field(None, ge=1, le=28)


class PartiesFile(_Strict):
    absent_cues: list[str] = Field(min_length=1)


class PoliciesFile(_Strict):
    policies: list[Policy]


def _load(directory: Path, name: str, model: type[BaseModel]):
    path = directory / name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise RulesError(f"{path}: {where}: {err['msg']}") from exc


class Rules:
    """Everything the engine needs, compiled once."""

    def __init__(self, directory: Path = RULES_DIR):
        self.intents_file: IntentsFile = _load(directory, "intents.yaml", IntentsFile)
        self.cards: dict[str, Card] = _load(directory, "cards.yaml", CardsFile).codes
        self.topics_file: TopicsFile = _load(directory, "topics.yaml", TopicsFile)
        self.topics: dict[str, Topic] = self.topics_file.topics
        self.sentiment: SentimentFile = _load(directory, "sentiment.yaml", SentimentFile)
        self.compliance: ComplianceFile = _load(directory, "compliance.yaml", ComplianceFile)
        self.default_policies: list[Policy] = _load(directory, "policies.yaml", PoliciesFile).policies
        self.parties: PartiesFile = _load(directory, "parties.yaml", PartiesFile)
        self.promises: PromiseWords = _load(directory, "promises.yaml", PromiseWords)
        phonetic: PhoneticFile = _load(directory, "phonetic.yaml", PhoneticFile)
        self.phonetics = Phonetics(tuple(phonetic.fuzzy_initials), tuple(phonetic.fuzzy_finals),
                                   tuple(phonetic.confusable_syllables))
        f = self.intents_file
        self.negation = Negation(f.negators, f.not_negators, f.scope_negators, f.scope_chars, f.scope_breakers)
        self.intents = {name: (intent, self.phrases(intent.phrases), self.phrases(intent.exclude, phonetic=False))
                        for name, intent in self.intents_file.intents.items()}

    def phrases(self, phrases: list[str], phonetic: bool = True, min_sound_chars: int = 2) -> PhraseSet:
        return PhraseSet(phrases, self.phonetics, phonetic, min_sound_chars)


@lru_cache(maxsize=4)
def load_rules(directory: Path = RULES_DIR) -> Rules:
    return Rules(directory)


# The files a team lead edits on the console (the rest change with a release): the cards'
# wording, the sensitive-topic concepts, the mood lexicon and its thresholds.
EDITABLE = ("cards.yaml", "topics.yaml", "sentiment.yaml")


def rules_with(overrides: dict[str, str]) -> Rules:
    """The package rules with some of the ``EDITABLE`` files replaced by a team lead's text,
    validated like the package's own (``RulesError`` naming the file and field). Compiled once
    per distinct set of texts."""
    unknown = sorted(set(overrides) - set(EDITABLE))
    if unknown:
        raise RulesError(f"not a file a team lead edits: {', '.join(unknown)} (editable: {', '.join(EDITABLE)})")
    return _compiled(tuple(sorted(overrides.items()))) if overrides else load_rules()


@lru_cache(maxsize=8)
def _compiled(overrides: tuple[tuple[str, str], ...]) -> Rules:
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ferryman-rules-") as tmp:
        directory = Path(tmp)
        for path in RULES_DIR.glob("*.yaml"):
            shutil.copy(path, directory / path.name)
        for name, text in overrides:
            (directory / name).write_text(text, encoding="utf-8")
        try:
            return Rules(directory)
        except RulesError as exc:            # name the file, not the temporary directory
            raise RulesError(str(exc).replace(f"{directory}/", "")) from None


CARD_TEXT_FIELDS = ("title", "detail", "suggestion")


def with_card_wording(cards_yaml: str, code: str, wording: dict[str, str]) -> str:
    """``cards.yaml``'s text with one card's title / detail / suggestion replaced, every other
    line (the lead's comments included) as it was. A field the card's block lacks is added
    under its code; ``RulesError`` when the code is not in the file."""
    unknown = sorted(set(wording) - set(CARD_TEXT_FIELDS))
    if unknown:
        raise RulesError(f"cards.yaml: a card's wording is {', '.join(CARD_TEXT_FIELDS)}, not {', '.join(unknown)}")
    lines = cards_yaml.splitlines()
    head = next((i for i, line in enumerate(lines) if line.rstrip() == f"  {code}:"), None)
    if head is None:
        raise RulesError(f"cards.yaml: no card {code}")
    end = next((i for i in range(head + 1, len(lines)) if lines[i].strip() and not lines[i].startswith("    ")),
               len(lines))
    for field, value in wording.items():
        line = f"    {field}: {json.dumps(value, ensure_ascii=False)}"       # a JSON string is a YAML scalar
        at = next((i for i in range(head + 1, end) if lines[i].startswith(f"    {field}:")), None)
        if at is None:
            lines.insert(head + 1, line)
            end += 1
        else:
            lines[at] = line
    return "\n".join(lines) + "\n"

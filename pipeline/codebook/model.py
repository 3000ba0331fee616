"""Load and validate the YAML codebook into pydantic models, and compile its rules to spaCy patterns.

The codebook is data: themes, their rules and the ConText rules all live in the YAML file. Every
problem is reported with the file, the line and the theme it concerns.
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
TOR_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_yaml_booleans(value: Any) -> Any:
    """YAML reads unquoted no/yes/on/off as booleans; say so instead of a puzzling type error."""
    if isinstance(value, bool):
        raise ValueError(
            f"got the boolean {str(value).lower()}: YAML reads unquoted no/yes/on/off as booleans, "
            f'so put the words in quotes (e.g. "no")'
        )
    if isinstance(value, list):
        for item in value:
            _no_yaml_booleans(item)
    return value


class MatchAttr(str, Enum):
    """Token attribute a phrase rule is matched on."""

    LOWER = "LOWER"
    LEMMA = "LEMMA"


class ContextCategory(str, Enum):
    """ConText categories: what a trigger does to the themes in its scope."""

    NEGATED_EXISTENCE = "NEGATED_EXISTENCE"
    HYPOTHETICAL = "HYPOTHETICAL"
    PSEUDO = "PSEUDO"
    TERMINATE = "TERMINATE"


class Direction(str, Enum):
    """ConText directions: which side of the trigger its scope lies on."""

    FORWARD = "FORWARD"
    BACKWARD = "BACKWARD"
    BIDIRECTIONAL = "BIDIRECTIONAL"
    TERMINATE = "TERMINATE"
    PSEUDO = "PSEUDO"


class TorQuestion(_Strict):
    """One key question of the Terms of Reference."""

    id: str = Field(pattern=TOR_ID_PATTERN)
    label: str
    text: str


class ThemeGroup(_Strict):
    """A heading themes are nested under (e.g. barriers)."""

    id: str = Field(pattern=ID_PATTERN)
    label: str
    description: str = ""


class Examples(_Strict):
    """Quotes that show the theme, and near misses that do not."""

    positive: list[str] = Field(default_factory=list)
    near_miss: list[str] = Field(default_factory=list)


class Rule(_Strict):
    """Phrases (matched on LOWER or LEMMA) or one spaCy token pattern that signal a theme."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    match: MatchAttr = MatchAttr.LOWER
    phrases: list[str] = Field(default_factory=list)
    pattern: list[dict[str, Any]] | None = None
    note: str = ""

    _phrases_are_text = field_validator("phrases", mode="before")(lambda cls, v: _no_yaml_booleans(v))

    @model_validator(mode="after")
    def _phrases_or_pattern(self) -> Rule:
        if bool(self.phrases) == bool(self.pattern):
            raise ValueError("a rule needs either `phrases` or a token `pattern`, not both or neither")
        if any(not p.strip() for p in self.phrases):
            raise ValueError("empty phrase")
        return self


class Theme(_Strict):
    """One code of the codebook."""

    id: str = Field(pattern=ID_PATTERN)
    label: str
    group: str = ""
    definition: str
    include: str = ""
    exclude: str = ""
    examples: Examples = Field(default_factory=Examples)
    rules: list[Rule] = Field(default_factory=list)
    tor: list[str] = Field(default_factory=list)


class ContextRule(_Strict):
    """A ConText trigger: a literal (or token pattern), its category, direction and scope."""

    literal: str
    category: ContextCategory
    direction: Direction
    pattern: list[dict[str, Any]] | None = None
    max_scope: int | None = Field(default=None, ge=1)

    _literal_is_text = field_validator("literal", mode="before")(lambda cls, v: _no_yaml_booleans(v))

    @model_validator(mode="after")
    def _consistent(self) -> ContextRule:
        if self.category in (ContextCategory.PSEUDO, ContextCategory.TERMINATE):
            if self.direction.value != self.category.value:
                raise ValueError(f"a {self.category.value} rule must have direction {self.category.value}")
        elif self.direction in (Direction.TERMINATE, Direction.PSEUDO):
            raise ValueError(f"direction {self.direction.value} only goes with category {self.direction.value}")
        return self


class ContextConfig(_Strict):
    """Negation and hypothetical detection, ConText style, as data."""

    max_scope: int = Field(default=8, ge=1)
    rules: list[ContextRule] = Field(default_factory=list)


class Codebook(_Strict):
    """The whole codebook; `hash` is set from the file's bytes at load time."""

    name: str
    version: str
    description: str = ""
    language: str = "en"
    tor_questions: list[TorQuestion] = Field(default_factory=list)
    groups: list[ThemeGroup] = Field(default_factory=list)
    themes: list[Theme]
    context: ContextConfig = Field(default_factory=ContextConfig)
    hash: str = ""
    path: str = ""

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    def theme(self, theme_id: str) -> Theme:
        """The theme with this id; KeyError names unknown ids."""
        for theme in self.themes:
            if theme.id == theme_id:
                return theme
        raise KeyError(f"unknown theme id {theme_id!r}")

    @property
    def theme_ids(self) -> list[str]:
        return [theme.id for theme in self.themes]

    def themes_for(self, tor_id: str) -> list[Theme]:
        """Themes that inform one ToR question, in codebook order."""
        return [theme for theme in self.themes if tor_id in theme.tor]


def codebook_hash(content: bytes) -> str:
    """Short, stable fingerprint of a codebook file, recorded with every tag and model."""
    return hashlib.sha256(content).hexdigest()[:16]

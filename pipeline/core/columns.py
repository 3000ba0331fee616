"""The columns of the tags and segments tables, one definition for every stage that reads or writes them."""

from __future__ import annotations

from enum import StrEnum


class Column(StrEnum):
    """A column of the tags table (one row per segment x theme) or the segments table; members are their names.

    Frames are built with the plain-string values (`coding.table` exports them): scikit-learn only takes
    feature names that are exactly `str`, and skops refuses to load types it does not trust.
    """

    SEGMENT_ID = "segment_id"
    TRANSCRIPT_ID = "transcript_id"
    SOURCE = "source"
    SPEAKER = "speaker"
    ROLE = "role"
    TURN_INDEX = "turn_index"
    START_CHAR = "start_char"
    END_CHAR = "end_char"
    TEXT = "text"
    THEME = "theme"
    METHOD = "method"
    RULE_ID = "rule_id"
    MATCHED = "matched"
    MATCH_START = "match_start"
    MATCH_END = "match_end"
    SCORE = "score"
    MODEL = "model"
    NEGATED = "negated"
    HYPOTHETICAL = "hypothetical"
    TRIGGER = "trigger"
    EVIDENCE = "evidence"
    EVIDENCE_REASON = "evidence_reason"
    CODEBOOK_VERSION = "codebook_version"
    CODEBOOK_HASH = "codebook_hash"

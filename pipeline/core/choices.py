"""The fixed sets of values options take, one definition each: the library checks them, the CLI offers them.

Members are strings (StrEnum), so they compare, format and serialise as their values.
"""

from __future__ import annotations

from enum import StrEnum


class Unit(StrEnum):
    """What a segment is: a sentence, or a whole speaker turn."""

    SENTENCE = "sentence"
    TURN = "turn"


class Combine(StrEnum):
    """How classifier and rule tags combine; AUTO is the mode the model card measured best."""

    RULES = "rules"
    CLASSIFIER = "classifier"
    UNION = "union"
    AUTO = "auto"


class Estimator(StrEnum):
    """The classifier's estimator: logistic regression, or a calibrated linear SVM."""

    LOGISTIC = "logistic"
    SVM = "svm"


class AnnexFormat(StrEnum):
    """The file formats the findings annex is written in."""

    DOCX = "docx"
    XLSX = "xlsx"
    HTML = "html"
    MD = "md"


class Engine(StrEnum):
    """Where `qualcode run` codes: in this machine's processes, or on a dask.distributed cluster."""

    LOCAL = "local"
    DASK = "dask"


# Transcripts per partition of a partitioned run (`--partition-size`): call notes of a few hundred words make a
# few MB of tables per partition. Here, beside Engine, so the CLI offers it without importing the engines.
DEFAULT_PARTITION_SIZE = 200

"""Spark ML pipelines for the process and memory streams (SPEC §6).

Features are every column of the labelled layout except
:data:`pipelines.schema.columns.NOT_FEATURES` (ts, machine, sequence, the label, type):

- **numbers** go into the assembler as they are (trees need no scaling);
- **categories** (POLI, Status, State) pass a ``StringIndexer`` and a ``OneHotEncoder``,
  both with ``handleInvalid="keep"``: a value never seen in training (a new Status on a
  new machine) lands in the extra "unknown" slot instead of failing or dropping the row;
- **CMD** is split into characters, turned into character bigrams and trigrams, each
  hashed into a fixed number of binary features (``RegexTokenizer`` → ``NGram(2)``,
  ``NGram(3)`` → ``HashingTF``). Bigrams still describe two-letter names (``sh``, ``ps``).
  Why: process names come in families (``apache2``, ``kworker/0:1``, ``<apache2>`` for a
  finished process, 15-character truncations); trigrams shared with known names carry
  over to unseen ones, and hashing needs no vocabulary, so an unseen name is never an
  error. A word-level vocabulary (or Word2Vec, as the provided models use) maps unseen
  names to nothing and is far slower to fit.

The assembler uses ``handleInvalid="error"``: rows with missing features are removed
before training (and counted) and quarantined before scoring
(:func:`pipelines.spark.scoring.split_scorable`), so a null reaching it is a bug that
must be loud rather than a row that vanishes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pyspark.ml import Pipeline
from pyspark.ml.classification import (
    GBTClassifier,
    LogisticRegression,
    RandomForestClassifier,
)
from pyspark.ml.feature import (
    HashingTF,
    MaxAbsScaler,
    NGram,
    OneHotEncoder,
    RegexTokenizer,
    StringIndexer,
    VectorAssembler,
)

from pipelines.schema.columns import (
    CATEGORICAL,
    LABEL,
    LABELLED_COLUMNS,
    NOT_FEATURES,
    TEXT,
    Stream,
)

FEATURES: Final = "features"
CMD_CHARACTERS: Final = "CMD_chars"
CMD_NGRAM_HASH_FEATURES: Final[dict[int, int]] = {2: 32, 3: 64}
"""Hashed slots per character n-gram length: ~180 distinct names give a few hundred
n-grams; collisions cost little for trees and few slots keep fitting fast on 2 cores."""


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns of a stream feed the model, by treatment."""

    stream: Stream
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    text: str

    @property
    def columns(self) -> tuple[str, ...]:
        """All feature columns (the model's input columns), in file order."""
        wanted = {*self.numeric, *self.categorical, self.text}
        return tuple(c for c in LABELLED_COLUMNS[self.stream] if c in wanted)


def feature_spec(stream: Stream) -> FeatureSpec:
    """The features of ``stream``: every labelled column not in ``NOT_FEATURES``."""
    features = [c for c in LABELLED_COLUMNS[stream] if c not in NOT_FEATURES]
    categorical = tuple(c for c in features if c in CATEGORICAL[stream])
    numeric = tuple(c for c in features if c not in categorical and c != TEXT)
    return FeatureSpec(stream, numeric, categorical, TEXT)


def _index(column: str) -> str:
    return f"{column}_index"


def _one_hot(column: str) -> str:
    return f"{column}_onehot"


def _ngrams(n: int) -> str:
    return f"CMD_{n}grams"


def _hashed(n: int) -> str:
    return f"CMD_{n}grams_hashed"


def feature_stages(spec: FeatureSpec) -> list[Any]:
    """The feature-engineering stages ending in a ``features`` vector column."""
    stages: list[Any] = []
    if spec.categorical:
        stages.append(
            StringIndexer(
                inputCols=list(spec.categorical),
                outputCols=[_index(c) for c in spec.categorical],
                handleInvalid="keep",
                stringOrderType="frequencyDesc",
            )
        )
        stages.append(
            OneHotEncoder(
                inputCols=[_index(c) for c in spec.categorical],
                outputCols=[_one_hot(c) for c in spec.categorical],
                handleInvalid="keep",
            )
        )
    # gaps=False with "." emits every character as a token (lower-cased).
    stages.append(
        RegexTokenizer(
            inputCol=spec.text, outputCol=CMD_CHARACTERS, pattern=".", gaps=False, minTokenLength=1
        )
    )
    for n, slots in CMD_NGRAM_HASH_FEATURES.items():
        stages += [
            NGram(n=n, inputCol=CMD_CHARACTERS, outputCol=_ngrams(n)),
            HashingTF(inputCol=_ngrams(n), outputCol=_hashed(n), numFeatures=slots, binary=True),
        ]
    stages.append(
        VectorAssembler(
            inputCols=[
                *spec.numeric,
                *[_one_hot(c) for c in spec.categorical],
                *[_hashed(n) for n in CMD_NGRAM_HASH_FEATURES],
            ],
            outputCol=FEATURES,
            handleInvalid="error",
        )
    )
    return stages


def _gbt(seed: int) -> list[Any]:
    return [
        GBTClassifier(
            labelCol=LABEL, featuresCol=FEATURES, maxIter=20, maxDepth=5, stepSize=0.2, seed=seed
        )
    ]


def _random_forest(seed: int) -> list[Any]:
    return [
        RandomForestClassifier(
            labelCol=LABEL, featuresCol=FEATURES, numTrees=40, maxDepth=10, seed=seed
        )
    ]


def _logistic_regression(seed: int) -> list[Any]:
    # Linear models need comparable feature scales; MaxAbsScaler keeps sparse vectors sparse.
    del seed  # deterministic solver
    scaled = "features_scaled"
    return [
        MaxAbsScaler(inputCol=FEATURES, outputCol=scaled),
        LogisticRegression(labelCol=LABEL, featuresCol=scaled, maxIter=100, regParam=0.001),
    ]


FAMILIES: Final[dict[str, Callable[[int], list[Any]]]] = {
    "gbt": _gbt,
    "random_forest": _random_forest,
    "logistic_regression": _logistic_regression,
}
"""Model families by name → the classifier stage(s) that follow the features."""
DEFAULT_FAMILIES: Final[tuple[str, ...]] = ("gbt", "random_forest")


def build_pipeline(stream: Stream, family: str, *, seed: int) -> Pipeline:
    """An unfitted pipeline: feature stages of ``stream`` then the ``family`` classifier.

    Args:
        stream: ``"process"`` or ``"memory"``.
        family: a key of :data:`FAMILIES` (``gbt``, ``random_forest``,
            ``logistic_regression``).
        seed: seed of the randomised learners (same seed, same data → same model).

    Raises:
        KeyError: unknown family.
    """
    if family not in FAMILIES:
        raise KeyError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    return Pipeline(stages=[*feature_stages(feature_spec(stream)), *FAMILIES[family](seed)])

"""The generated labelled files are learnable, but not trivially (issue 3, SPEC §2.3).

A Spark ML gradient-boosted-trees model trained on the generated labelled files, without
ts/machine/sequence, must reach a held-out AUC between 0.90 and 0.98 for both streams;
no single feature alone may reach an AUC above 0.8; every attack type must have a recall
above 0.3. Small data and few trees keep it fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import Pipeline
from pyspark.ml.classification import GBTClassifier
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import HashingTF, RegexTokenizer, StringIndexer, VectorAssembler
from pyspark.sql import SparkSession

from pipelines.data.csvfile import load_frame
from pipelines.data.generator import generate
from pipelines.schema.columns import ATTACK_TYPES, CATEGORICAL, LABEL, NOT_FEATURES, TEXT, Stream

LABELLED_ROWS = 8000
SEED = 11
AUC_RANGE = (0.90, 0.98)
SINGLE_FEATURE_AUC_MAX = 0.8
RECALL_MIN = 0.3
CMD_HASH_FEATURES = 64
MISSING = -1.0  # atop's "-" placeholders, for the trees


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum formula (ties count half)."""
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def single_feature_auc(train: pd.DataFrame, test: pd.DataFrame, column: str) -> float:
    """Held-out AUC of the best one-feature rule: the training attack rate per value.

    Numbers with many distinct values are cut into bins first, as a tree on that feature
    alone could: 20 quantiles of the rows plus 20 quantiles of the distinct values (so a
    feature that is mostly 0, like MAJFLT, still gets its rare values their own bins).
    The score of a test row is its bin's (or value's) training attack rate.
    """
    values = train[column]
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > 20:
        numbers = values.astype(float).to_numpy()
        levels = np.linspace(0, 1, 21)
        edges = np.unique(
            np.concatenate([np.quantile(numbers, levels), np.quantile(np.unique(numbers), levels)])
        )[1:-1]
        key_train = np.digitize(numbers, edges)
        key_test = np.digitize(test[column].astype(float).to_numpy(), edges)
    else:
        key_train = values.astype(str).to_numpy()
        key_test = test[column].astype(str).to_numpy()
    rates = pd.Series(train[LABEL].to_numpy()).groupby(key_train).mean()
    prior = float(train[LABEL].mean())
    scores = pd.Series(key_test).map(rates).fillna(prior).to_numpy()
    return rank_auc(test[LABEL].to_numpy(), scores)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> dict[Stream, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("learnability")
    files = generate(folder, seed=SEED, rows_per_machine=200, labelled_rows=LABELLED_ROWS)
    frames: dict[Stream, pd.DataFrame] = {}
    for stream in ("process", "memory"):
        frame = load_frame(files.labelled(stream), stream, labelled=True)
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        frame[numeric] = frame[numeric].astype(float).fillna(MISSING)
        frames[stream] = frame
    return frames


def features(stream: Stream, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric feature columns, categorical feature columns) of a labelled frame."""
    categorical = list(CATEGORICAL[stream])
    numeric = [
        c for c in frame.columns if c not in NOT_FEATURES and c not in categorical and c != TEXT
    ]
    return numeric, categorical


def gbt_pipeline(stream: Stream, numeric: list[str], categorical: list[str]) -> Pipeline:
    # CMD generalises through its letters only: "<apache2>", "apache2" and an unseen
    # "apache3" share the token "apache"; kworker/u256:0 and kworker/3:1 share "kworker".
    tokenizer = RegexTokenizer(inputCol=TEXT, outputCol="cmd_tokens", pattern="[^A-Za-z]+")
    hashing = HashingTF(
        inputCol="cmd_tokens", outputCol="cmd_vector", numFeatures=CMD_HASH_FEATURES
    )
    indexers = [
        StringIndexer(inputCol=c, outputCol=f"{c}_index", handleInvalid="keep") for c in categorical
    ]
    assembler = VectorAssembler(
        inputCols=[*numeric, *(f"{c}_index" for c in categorical), "cmd_vector"],
        outputCol="features",
    )
    gbt = GBTClassifier(labelCol=LABEL, featuresCol="features", maxIter=25, maxDepth=4, seed=3)
    return Pipeline(stages=[tokenizer, hashing, *indexers, assembler, gbt])


@pytest.mark.parametrize("stream", ["process", "memory"])
def test_gbt_learns_attacks_but_no_single_feature_does(
    spark: SparkSession, labelled: dict[Stream, pd.DataFrame], stream: Stream
) -> None:
    frame = labelled[stream]
    numeric, categorical = features(stream, frame)
    rng = np.random.default_rng(5)
    held_out = rng.random(len(frame)) < 0.3
    train, test = frame[~held_out], frame[held_out]

    model = gbt_pipeline(stream, numeric, categorical).fit(spark.createDataFrame(train))
    scored = model.transform(spark.createDataFrame(test))
    auc = BinaryClassificationEvaluator(labelCol=LABEL, metricName="areaUnderROC").evaluate(scored)
    predictions = scored.select(LABEL, "type", "prediction").toPandas()
    attacks = predictions[predictions[LABEL] == 1]
    recall = attacks.groupby("type").prediction.mean().to_dict()
    single = {c: single_feature_auc(train, test, c) for c in [*numeric, *categorical, TEXT]}
    print(
        f"\n{stream}: rows {len(frame)}, attack share {frame[LABEL].mean():.3f}, "
        f"held-out AUC {auc:.3f}\n  recall by type "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(recall.items()))
        + "\n  single-feature AUC "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(single.items(), key=lambda kv: -kv[1]))
    )

    assert AUC_RANGE[0] <= auc <= AUC_RANGE[1], f"held-out AUC {auc:.3f}"
    best = max(single, key=lambda c: single[c])
    assert single[best] <= SINGLE_FEATURE_AUC_MAX, f"{best} alone reaches {single[best]:.3f}"
    assert set(recall) == set(ATTACK_TYPES[stream])
    weak = {t: r for t, r in recall.items() if r <= RECALL_MIN}
    assert not weak, f"recall at or below {RECALL_MIN}: {weak}"

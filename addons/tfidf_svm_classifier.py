"""An intent classifier for short, misspelled, mixed-language messages: TF-IDF over word 1–2-grams
and character 2–5-grams (accents stripped, sublinear term frequency) and a linear SVM with
calibrated probabilities.

Why not Rasa's own: on this project's held-out split it is 2–4 points more accurate than
LogisticRegressionClassifier and DIET (docs/eval.md), trains in seconds on 2 cores instead of
minutes, and needs no downloaded weights. It featurizes the raw text itself, so the pipeline needs
only a tokenizer before it. Runs inside the Rasa process.

Persisted as plain data, not as pickled objects: the vectorizers' vocabularies in JSON and the
numbers (IDF weights, SVM coefficients, sigmoid calibration) in a NumPy ``.npz`` read with
``allow_pickle=False``, so loading a model file can never run code. Inference is the same
arithmetic as scikit-learn's pipeline (``LinearModel``), checked against it after every training.
This replaced skops, whose import alone took 19 s inside Rasa.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

logger = logging.getLogger(__name__)

FORMAT = 1  # of the persisted files: bump when their layout changes
# The arrays of a model file, all numbers (np.load refuses objects: allow_pickle=False).
ARRAYS = ("words_idf", "chars_idf", "coef", "intercept", "calibration_a", "calibration_b")
# Training checks that the persisted model gives scikit-learn's probabilities, to this much.
TOLERANCE = 1e-9


def vectorizers(config: dict[str, Any]) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    """The word and character TF-IDF vectorizers of ``config`` (not fitted)."""
    words = TfidfVectorizer(
        analyzer="word",
        ngram_range=tuple(config["word_ngrams"]),
        strip_accents="unicode",
        lowercase=True,
        sublinear_tf=True,
    )
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=tuple(config["char_ngrams"]),
        strip_accents="unicode",
        lowercase=True,
        sublinear_tf=True,
    )
    return words, chars


class LinearModel:
    """A trained classifier as data: TF-IDF features, a linear SVM's decision values and one
    sigmoid calibration per class, computed as scikit-learn 1.1's FeatureUnion, LinearSVC and
    CalibratedClassifierCV(method="sigmoid", ensemble=False) compute them."""

    def __init__(
        self,
        words: TfidfVectorizer,
        chars: TfidfVectorizer,
        arrays: dict[str, np.ndarray],
        classes: list[str],
    ) -> None:
        self.words = words
        self.chars = chars
        self.coef = arrays["coef"]
        self.intercept = arrays["intercept"]
        self.a = arrays["calibration_a"]
        self.b = arrays["calibration_b"]
        self.classes_ = np.asarray(classes)
        self.arrays = arrays

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> LinearModel:
        words = pipeline.named_steps["features"].transformer_list[0][1]
        chars = pipeline.named_steps["features"].transformer_list[1][1]
        calibrated = pipeline.named_steps["svm"]
        (fitted,) = calibrated.calibrated_classifiers_  # ensemble=False: one, on all the data
        svm = fitted.base_estimator
        if list(svm.classes_) != list(calibrated.classes_):
            raise ValueError("the SVM's classes differ from the calibrated classifier's")
        arrays = {
            "words_idf": np.asarray(words.idf_, dtype=np.float64),
            "chars_idf": np.asarray(chars.idf_, dtype=np.float64),
            "coef": np.asarray(svm.coef_, dtype=np.float64),
            "intercept": np.asarray(svm.intercept_, dtype=np.float64),
            "calibration_a": np.asarray([c.a_ for c in fitted.calibrators], dtype=np.float64),
            "calibration_b": np.asarray([c.b_ for c in fitted.calibrators], dtype=np.float64),
        }
        return cls(words, chars, arrays, [str(c) for c in calibrated.classes_])

    def save(self, directory: Path, name: str) -> None:
        meta = {
            "format": FORMAT,
            "classes": [str(c) for c in self.classes_],
            "words_vocabulary": {k: int(v) for k, v in self.words.vocabulary_.items()},
            "chars_vocabulary": {k: int(v) for k, v in self.chars.vocabulary_.items()},
        }
        (directory / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")
        np.savez(directory / f"{name}.npz", **self.arrays)

    @classmethod
    def load(cls, directory: Path, name: str, config: dict[str, Any]) -> LinearModel:
        meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"model format {meta.get('format')!r}, expected {FORMAT}")
        with np.load(directory / f"{name}.npz", allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key]) for key in ARRAYS}
        words, chars = vectorizers(config)
        for vectorizer, vocabulary, idf in (
            (words, meta["words_vocabulary"], arrays["words_idf"]),
            (chars, meta["chars_vocabulary"], arrays["chars_idf"]),
        ):
            vectorizer.vocabulary_ = {str(k): int(v) for k, v in vocabulary.items()}
            vectorizer.idf_ = idf  # scikit-learn's public setter builds the IDF diagonal
        return cls(words, chars, arrays, [str(c) for c in meta["classes"]])

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        features = scipy.sparse.hstack(
            [self.words.transform(texts), self.chars.transform(texts)]
        ).tocsr()
        decision = np.asarray(features @ self.coef.T) + self.intercept
        n_classes = len(self.classes_)
        proba = np.zeros((features.shape[0], n_classes))
        if n_classes == 2:  # one decision column, for the second class
            proba[:, 1] = 1.0 / (1.0 + np.exp(self.a[0] * decision[:, 0] + self.b[0]))
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            proba = 1.0 / (1.0 + np.exp(self.a * decision + self.b))
            denominator = np.sum(proba, axis=1)[:, np.newaxis]
            uniform = np.full_like(proba, 1 / n_classes)
            proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfSvmIntentClassifier(IntentClassifier, GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "C": 0.5,
            "word_ngrams": [1, 2],
            "char_ngrams": [2, 5],
            "calibration_folds": 3,
            "ranking_length": 10,
            "random_state": 42,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: LinearModel | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    def _new_pipeline(self) -> Pipeline:
        c = self.config
        words, chars = vectorizers(c)
        svm = LinearSVC(C=c["C"], class_weight="balanced", random_state=c["random_state"])
        return Pipeline(
            [
                ("features", FeatureUnion([("words", words), ("chars", chars)])),
                (
                    "svm",
                    CalibratedClassifierCV(
                        svm, cv=c["calibration_folds"], method="sigmoid", ensemble=False
                    ),
                ),
            ]
        )

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfSvmIntentClassifier:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        # Intents that only appear in rules (nlu_fallback) carry no real examples.
        counts: dict[str, int] = {}
        for e in examples:
            counts[e.get(INTENT)] = counts.get(e.get(INTENT), 0) + 1
        examples = [
            e for e in examples if counts[e.get(INTENT)] >= self.config["calibration_folds"]
        ]
        if not examples:
            return self._resource
        pipeline = self._new_pipeline()
        texts = [e.get(TEXT) for e in examples]
        labels = np.asarray([e.get(INTENT) for e in examples])  # sklearn 1.1 needs an array here
        pipeline.fit(texts, labels)
        model = LinearModel.from_pipeline(pipeline)
        # What goes into the model file must answer as scikit-learn does, or training fails.
        expected = pipeline.predict_proba(texts)
        got = model.predict_proba(texts)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=TOLERANCE):
            raise ValueError("the persisted classifier differs from the trained one")
        self.model = model
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        probabilities = self.model.predict_proba(texts)
        classes = self.model.classes_
        for message, row in zip(messages, probabilities, strict=True):
            ranking = sorted(
                (
                    {"name": str(k), "confidence": float(v)}
                    for k, v in zip(classes, row, strict=True)
                ),
                key=lambda r: -r["confidence"],
            )
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(
                "intent_ranking", ranking[: self.config["ranking_length"]], add_to_output=True
            )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def persist(self) -> None:
        if self.model is None:
            return
        with self._model_storage.write_to(self._resource) as model_dir:
            self.model.save(Path(model_dir), self._resource.name)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfSvmIntentClassifier:
        merged = {**cls.get_default_config(), **config}
        try:
            with model_storage.read_from(resource) as model_dir:
                model = LinearModel.load(Path(model_dir), resource.name, merged)
        except (ValueError, KeyError, FileNotFoundError):
            logger.warning("TfidfSvmIntentClassifier: no trained model found")
            return cls.create(config, model_storage, resource, execution_context)
        return cls(config, model_storage, resource, model)

"""An intent classifier for short, misspelled, mixed-language messages: TF-IDF over word 1–2-grams
and character 2–5-grams (accents stripped, sublinear term frequency) and a linear SVM with
calibrated probabilities.

Why not Rasa's own: on this project's held-out split it is 2–4 points more accurate than
LogisticRegressionClassifier and DIET (docs/eval.md), trains in seconds on 2 cores instead of
minutes, and needs no downloaded weights. It featurizes the raw text itself, so the pipeline needs
only a tokenizer before it. Runs inside the Rasa process; persisted with skops like Rasa's
LogisticRegressionClassifier.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
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
        return ["sklearn", "skops"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.pipeline = pipeline

    def _new_pipeline(self) -> Pipeline:
        c = self.config
        words = TfidfVectorizer(
            analyzer="word",
            ngram_range=tuple(c["word_ngrams"]),
            strip_accents="unicode",
            lowercase=True,
            sublinear_tf=True,
        )
        chars = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(c["char_ngrams"]),
            strip_accents="unicode",
            lowercase=True,
            sublinear_tf=True,
        )
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
        labels = np.asarray([e.get(INTENT) for e in examples])  # sklearn 1.1 needs an array here
        pipeline.fit([e.get(TEXT) for e in examples], labels)
        self.pipeline = pipeline
        self.persist()
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        if self.pipeline is None:
            return messages
        texts = [m.get(TEXT) or "" for m in messages]
        probabilities = self.pipeline.predict_proba(texts)
        classes = self.pipeline.classes_
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
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self.pipeline, model_dir / f"{self._resource.name}.skops")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfSvmIntentClassifier:
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as model_dir:
                path = model_dir / f"{resource.name}.skops"
                # Our own training wrote this file, inside our own model archive; the types are
                # scikit-learn's (vectorizers, SVM, calibration) and numpy's.
                pipeline = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        except (ValueError, FileNotFoundError):
            logger.warning("TfidfSvmIntentClassifier: no trained model found")
            return cls.create(config, model_storage, resource, execution_context)
        return cls(config, model_storage, resource, pipeline)

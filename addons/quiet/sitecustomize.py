"""Warnings filters for the Rasa process and `rasa train`: the known noisy third-party packages.

Rasa 3.6 pins libraries whose imports warn about their own deprecated APIs (pkg_resources,
TensorFlow and JAX, SQLAlchemy 1.4, matplotlib's pyparsing, sanic-cors, ...). Nobody running the
assistant can act on them, and twenty such lines on a first start hide the lines that matter.

Python imports ``sitecustomize`` at start-up from the first folder of ``PYTHONPATH`` that has
one; ``bot.rasa.model.rasa_env`` puts this folder there for every Rasa command. Only deprecation
and future warnings attributed to *those packages' own files* are dropped: warnings from our code
(``addons``, ``actions``) and Rasa's ``UserWarning``s about our training data still show.

A filter alone is not enough: libraries imported later insert their own ``once`` and ``default``
filters in front of it. So the decision is taken where a warning is printed (``showwarning``),
whatever filters were added since.
"""

import os
import warnings
from typing import Any

NOISY = frozenset(
    {
        "absl",
        "aiohttp",
        "dask",
        "flatbuffers",
        "google",
        "jax",
        "keras",
        "matplotlib",
        "numpy",
        "pkg_resources",
        "pydantic",
        "pyparsing",
        "rasa",
        "sanic",
        "sanic_cors",
        "sanic_routing",
        "scipy",
        "setuptools",
        "sklearn",
        "spacy",
        "sqlalchemy",
        "tensorflow",
        "tensorflow_addons",
        "tensorflow_hub",
        "thinc",
        "websockets",
    }
)
QUIET = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def third_party(filename: str) -> bool:
    """A file inside ``site-packages/<one of NOISY>/`` (or that package's single module)."""
    parts = os.path.normpath(filename).split(os.sep)
    if "site-packages" not in parts:
        return False
    top = parts[parts.index("site-packages") + 1 :][:1]
    return bool(top) and top[0].removesuffix(".py") in NOISY


_show = warnings.showwarning


def showwarning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    if isinstance(category, type) and issubclass(category, QUIET) and third_party(filename):
        return
    _show(message, category, filename, lineno, file, line)


warnings.showwarning = showwarning

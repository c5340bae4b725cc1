"""The trained Rasa model, named by a hash of its inputs: trained once per change, reused after.

Inputs: config.yml, domain.yml and the training data (data/nlu, data/core). The held-out split in
data/heldout is not an input. Trained models are also kept in a cache outside the checkout, so a
fresh clone with unchanged inputs (CI) reuses the model instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT, Settings

# A folder holding only a sitecustomize.py: warnings filters every Rasa command starts with.
QUIET_STARTUP = PROJECT_ROOT / "addons" / "quiet"

TRAINING_INPUTS = ("config.yml", "domain.yml", "data/nlu", "data/core", "addons")


def admin_data(settings: Settings) -> Path:
    """Where the example phrases admins added live as Rasa NLU files (outside the checkout)."""
    return settings.data_dir / "nlu_admin"


def inputs_hash(
    root: Path = PROJECT_ROOT, config: str = "config.yml", extra: Path | None = None
) -> str:
    digest = hashlib.sha256()
    paths = [root / rel for rel in (config, *TRAINING_INPUTS[1:])]
    if extra is not None and extra.is_dir():
        paths.append(extra)
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            name = str(f.relative_to(root)) if f.is_relative_to(root) else f"admin/{f.name}"
            digest.update(name.encode())
            digest.update(f.read_bytes())
    digest.update(b"rasa==3.6.21")
    return digest.hexdigest()[:16]


def model_path(settings: Settings, config: str = "config.yml") -> Path:
    stem = "model" if config == "config.yml" else Path(config).stem.replace("_", "-")
    extra = admin_data(settings) if config == "config.yml" else None
    return settings.model_dir / f"{stem}-{inputs_hash(config=config, extra=extra)}.tar.gz"


def rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["RASA_CACHE_DIRECTORY"] = str(PROJECT_ROOT / ".rasa" / "cache")
    env.pop("PYTHONPATH", None)
    # Third-party deprecation warnings filtered at start-up (addons/quiet/sitecustomize.py), and
    # SQLAlchemy 1.4's one-line "2.0 is coming" notice that Rasa's pin cannot act on.
    env["PYTHONPATH"] = str(QUIET_STARTUP)
    env["SQLALCHEMY_SILENCE_UBER_WARNING"] = "1"
    return env


def needs_training(settings: Settings, config: str = "config.yml") -> bool:
    """Whether ``ensure_model`` will train (minutes) rather than find a model (a moment)."""
    target = model_path(settings, config)
    return not target.exists() and not (settings.model_cache_dir / target.name).exists()


def ensure_model(settings: Settings, config: str = "config.yml", quiet: bool = False) -> Path:
    """Return the model for the current inputs, from models/, the cache, or a fresh training."""
    target = model_path(settings, config)
    if target.exists():
        return target
    cached = settings.model_cache_dir / target.name
    if cached.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(cached, target)
        if sidecar(cached).exists():
            shutil.copy2(sidecar(cached), sidecar(target))
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    rasa = str(settings.rasa_venv / "bin" / "rasa")
    if config == "config.yml":
        cmd = [
            *(rasa, "train", "--config", config, "--domain", "domain.yml"),
            *("--data", "data/nlu", "data/core"),
            *([str(admin_data(settings))] if extra_ok(settings, config) else []),
        ]
    else:
        # A baseline for comparison (bench/): its understanding is what is measured, so only its
        # NLU pipeline is trained (the stock dialogue policies would add minutes and no figure).
        cmd = [rasa, "train", "nlu", "--config", config, "--nlu", "data/nlu"]
    cmd += ["--out", str(target.parent), "--fixed-model-name", target.name.removesuffix(".tar.gz")]
    if quiet:
        cmd.append("--quiet")
    started = time.monotonic()
    subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env(), check=True)
    info = {"config": config, "training_seconds": round(time.monotonic() - started, 1)}
    sidecar(target).write_text(json.dumps(info))
    try:
        settings.model_cache_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target, cached)
        shutil.copy2(sidecar(target), sidecar(cached))
    except OSError:
        pass  # the cache is an optimisation only
    return target


def _has_files(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.yml"))


def extra_ok(settings: Settings, config: str) -> bool:
    """Admin examples go into our model only (the stock baseline trains on the shipped data)."""
    return config == "config.yml" and _has_files(admin_data(settings))


def validate(settings: Settings) -> tuple[bool, str]:
    """`rasa data validate --fail-on-warnings` on the training data, admin examples included."""
    cmd = [
        str(settings.rasa_venv / "bin" / "rasa"),
        "data",
        "validate",
        "--fail-on-warnings",
        "--domain",
        "domain.yml",
        "--config",
        "config.yml",
        "--data",
        "data/nlu",
        "data/core",
        *([str(admin_data(settings))] if _has_files(admin_data(settings)) else []),
    ]
    run = subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env(), capture_output=True, text=True)
    problems = [
        line.strip()
        for line in (run.stdout + run.stderr).splitlines()
        if "UserWarning" in line or "ERROR" in line
    ]
    return run.returncode == 0, "\n".join(problems)


def sidecar(model: Path) -> Path:
    """Facts about a trained model (how long training took), kept beside it."""
    return model.with_name(model.name.removesuffix(".tar.gz") + ".json")


def training_info(model: Path) -> dict[str, object]:
    path = sidecar(model)
    return dict(json.loads(path.read_text())) if path.exists() else {}


def domain_intents(path: Path | None = None) -> set[str]:
    """The intent names of the Rasa domain (``domain.yml``): the dialogue's contract."""
    data = yaml.safe_load((path or PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    names: set[str] = set()
    for item in data.get("intents", []):
        names.add(item if isinstance(item, str) else next(iter(item)))
    return names

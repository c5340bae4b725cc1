"""HSDS files uploaded in the console, kept between the dry run and "Apply this import".

Each file lives under ``<data_dir>/directory-uploads/<owner>/<token><suffix>`` for at most
``KEEP`` and only its uploader can apply it; applying, or any later upload, removes old ones.
Directory files hold no survivor data, but nothing is kept longer than the check needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from pathlib import Path

SUFFIXES = (".json", ".zip")
KEEP = dt.timedelta(hours=1)
MAX_BYTES = 10 * 1024 * 1024


class UploadError(Exception):
    """Not a file we take: ``code`` is "type", "size" or "empty"."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Uploads:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "directory-uploads"

    def _folder(self, owner: str) -> Path:
        return self.root / hashlib.sha256(owner.encode()).hexdigest()[:16]

    def store(self, owner: str, filename: str, data: bytes) -> str:
        """Keep an upload; returns its token."""
        suffix = Path(filename.lower()).suffix
        if suffix not in SUFFIXES:
            raise UploadError("type")
        if not data:
            raise UploadError("empty")
        if len(data) > MAX_BYTES:
            raise UploadError("size")
        self.sweep()
        folder = self._folder(owner)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(18)
        (folder / f"{token}{suffix}").write_bytes(data)
        return token

    def find(self, owner: str, token: str) -> Path | None:
        """The kept file for this owner and token, if it has not expired."""
        if not token or not token.replace("-", "").replace("_", "").isalnum():
            return None
        for suffix in SUFFIXES:
            path = self._folder(owner) / f"{token}{suffix}"
            if path.is_file() and not self._expired(path):
                return path
        return None

    def discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def sweep(self) -> None:
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/*"):
            if self._expired(path):
                path.unlink(missing_ok=True)

    @staticmethod
    def _expired(path: Path) -> bool:
        return time.time() - path.stat().st_mtime > KEEP.total_seconds()

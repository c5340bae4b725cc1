"""How much database work something costs: transactions begun and statements sent.

Why it exists: a turn's cost on a two-core machine is mostly round trips to the database, and
they creep back one helper at a time. ``DatabaseWork`` listens on an engine while it is open
(SQLAlchemy's ``begin`` and ``before_cursor_execute`` events), so a test can assert that an
ordinary turn stays within its budget and the benchmark can print the figure. It counts, never
times: times belong to the benchmark, counts to the tests.

Counted: every transaction a connection begins (a session that reads or writes begins one; a
session that never touches the database begins none) and every statement sent through a cursor,
including those of other tasks in the same process while the counter is open (the inbox and
outbox pollers, Rasa's callbacks): what one message costs the process, not one function.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, event


@dataclass(frozen=True)
class Work:
    """Transactions and statements counted between two moments."""

    transactions: int = 0
    statements: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(self.transactions + other.transactions, self.statements + other.statements)

    def __sub__(self, other: Work) -> Work:
        return Work(self.transactions - other.transactions, self.statements - other.statements)

    def per(self, n: int) -> tuple[float, float]:
        """Per turn (or per message): transactions, statements."""
        n = max(n, 1)
        return self.transactions / n, self.statements / n


class DatabaseWork:
    """Counts what an engine does while open: ``with DatabaseWork(engine) as work: ...``;
    ``work.now()`` at any moment, ``work.since(earlier)`` for a span."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()  # statements may run in worker threads
        self._transactions = 0
        self._statements = 0
        self._listening = False

    def _began(self, _conn: Any) -> None:
        with self._lock:
            self._transactions += 1

    def _statement(self, *_args: Any) -> None:
        with self._lock:
            self._statements += 1

    def start(self) -> DatabaseWork:
        if not self._listening:
            event.listen(self.engine, "begin", self._began)
            event.listen(self.engine, "before_cursor_execute", self._statement)
            self._listening = True
        return self

    def stop(self) -> None:
        if self._listening:
            event.remove(self.engine, "begin", self._began)
            event.remove(self.engine, "before_cursor_execute", self._statement)
            self._listening = False

    def now(self) -> Work:
        with self._lock:
            return Work(self._transactions, self._statements)

    def since(self, earlier: Work) -> Work:
        return self.now() - earlier

    def __enter__(self) -> DatabaseWork:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()

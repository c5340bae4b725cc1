"""Prometheus metrics in the text exposition format, written here (no client library needed).

What is counted must never tell anyone who wrote or what: every label value comes from a fixed,
closed list (``TURN_KINDS``), never from a message, a contact, a channel user id or a
conversation. The figures an operator needs to see that the service works (turns by kind, how
long they took, what waits in the inbox and the outbox, dead letters, Rasa, the handoff queue)
are enough; anything finer-grained would become a record of people's activity.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PREFIX = "safe_harbour"
# What decided a turn, coarsely: the safety layer's crisis reply, a command (EXIT, DELETE, MENU,
# a language...), or everything else (the model, a choice, a person on the team).
TURN_KINDS: tuple[str, ...] = ("crisis", "command", "ordinary")
# Seconds. A crisis reply comes in well under a second; a turn that waits for Rasa may take
# several; the last buckets show turns that waited for a lock or a slow database.
LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Gauge:
    """One value read at scrape time (queue depths, ages, whether Rasa answers)."""

    name: str
    help: str
    value: float


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)  # not cumulative; summed when written
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
                break
        self.total += 1
        self.sum += value


class Metrics:
    """The process's counters, shared by the turns (which observe) and ``/metrics`` (which
    reads). Values are per process, since its start, as Prometheus expects of counters."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self._lock = threading.Lock()  # turns run on the loop; a scrape may read from a thread
        self._turns = dict.fromkeys(TURN_KINDS, 0)
        self._latency = {kind: _Histogram(buckets) for kind in TURN_KINDS}

    def observe_turn(self, kind: str, seconds: float) -> None:
        """One turn handled: its kind (one of ``TURN_KINDS``) and how long it took."""
        if kind not in self._turns:
            raise ValueError(f"unknown turn kind {kind!r}")  # a closed list, on purpose
        with self._lock:
            self._turns[kind] += 1
            self._latency[kind].observe(max(0.0, seconds))

    def turns(self, kind: str) -> int:
        with self._lock:
            return self._turns[kind]

    def render(self, gauges: Iterable[Gauge] = ()) -> str:
        """The exposition text: these counters, then ``gauges`` read by the caller."""
        lines: list[str] = []
        name = f"{PREFIX}_turns_total"
        lines += [
            f"# HELP {name} Messages handled, by what decided the answer.",
            f"# TYPE {name} counter",
        ]
        with self._lock:
            turns = dict(self._turns)
            latency = {
                kind: (h.buckets, list(h.counts), h.total, h.sum)
                for kind, h in self._latency.items()
            }
        lines += [f'{name}{{kind="{kind}"}} {turns[kind]}' for kind in TURN_KINDS]
        name = f"{PREFIX}_turn_seconds"
        lines += [
            f"# HELP {name} Time from a message's arrival at the turn to its answer, by kind.",
            f"# TYPE {name} histogram",
        ]
        for kind in TURN_KINDS:
            buckets, counts, total, seconds = latency[kind]
            running = 0
            for bound, count in zip(buckets, counts, strict=True):
                running += count
                lines.append(f'{name}_bucket{{kind="{kind}",le="{_number(bound)}"}} {running}')
            lines.append(f'{name}_bucket{{kind="{kind}",le="+Inf"}} {total}')
            lines.append(f'{name}_sum{{kind="{kind}"}} {_number(seconds)}')
            lines.append(f'{name}_count{{kind="{kind}"}} {total}')
        for gauge in gauges:
            full = f"{PREFIX}_{gauge.name}"
            lines += [
                f"# HELP {full} {gauge.help}",
                f"# TYPE {full} gauge",
                f"{full} {_number(gauge.value)}",
            ]
        return "\n".join(lines) + "\n"

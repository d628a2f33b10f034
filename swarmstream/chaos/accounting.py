"""Chaos accounting: every request must end as exactly one logical response or one dead letter."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from swarmstream import topic_values
from swarmstream.events import DeadLetter, InteractionRequested, InteractionResponded, InteractionsRequested
from swarmstream.settings import Settings
from swarmstream.transport import read_to_end


@dataclass
class Ledger:
    """What the topics hold: requests published, responses and dead letters per request id."""

    requested: set[str] = field(default_factory=set)
    responses: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)

    def add_request(self, request: InteractionRequested) -> None:
        self.requested.add(request.request_id)

    def add_outcome(self, event: InteractionResponded | DeadLetter) -> None:
        if isinstance(event, DeadLetter):
            self.dead_letters[event.request_id] += 1
        else:
            self.responses[event.request_id] += 1


@dataclass(frozen=True)
class Accounting:
    requests: int
    answered: int
    dead_lettered: int
    lost: int  # neither answered nor dead-lettered: must be 0
    both: int  # answered and dead-lettered (a replayed dead letter answered later)
    duplicates: int  # extra deliveries of an outcome (at-least-once replays)
    dead_letter_reasons: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.lost == 0


def account(ledger: Ledger, reasons: Counter[str] | None = None) -> Accounting:
    answered, lettered = set(ledger.responses), set(ledger.dead_letters) & ledger.requested
    return Accounting(
        requests=len(ledger.requested),
        answered=len(answered & ledger.requested),
        dead_lettered=len(lettered - answered),
        lost=len(ledger.requested - answered - lettered),
        both=len(answered & lettered),
        duplicates=sum(n - 1 for n in ledger.responses.values()) + sum(n - 1 for n in ledger.dead_letters.values()),
        dead_letter_reasons=dict(reasons or {}),
    )


async def read_ledger(settings: Settings) -> tuple[Ledger, Counter[str]]:
    """Read the request, response and dead-letter topics to their ends."""
    ledger, reasons = Ledger(), Counter[str]()
    topics = [settings.requests_topic, settings.responses_topic, settings.deadletter_topic]
    async for batch in read_to_end(settings, topics):
        # Bad input on purpose is skipped here: its dead letter is what counts.
        for event in topic_values.events(settings, batch):
            if isinstance(event, InteractionRequested):
                ledger.add_request(event)
            elif isinstance(event, InteractionsRequested):
                for request in event.requests:
                    ledger.add_request(request)
            else:
                if isinstance(event, DeadLetter):
                    reasons[event.reason] += 1
                ledger.add_outcome(event)
    return ledger, reasons


def recovery_s(arrivals: list[float], started: float, ended: float, window_s: float = 1.0) -> float | None:
    """Seconds after a fault ``ended`` until outcomes arrive at half their rate before it ``started``.

    The rate before is the busiest ``window_s`` window of the 10 s before the fault; None if outcomes
    never got back to half of it. Arrival times, not the events' own: a stalled broker holds replies
    that were ready long before.
    """
    before = Counter(int((t - started) // window_s) for t in arrivals if started - 10 <= t < started)
    baseline = max(before.values(), default=0)
    after = Counter(int((t - ended) // window_s) for t in arrivals if t >= ended)
    if not after:
        return None
    for slot in sorted(after):
        if after[slot] >= baseline / 2:
            return slot * window_s
    return None

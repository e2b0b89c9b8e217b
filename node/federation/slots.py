"""How many network requests are answered at once: each may hold its peers' answers,
MAX_NETWORK_BODIES read and up to some 30 times that parsed (node/federation/peers.py),
until its merge is written, and nothing bounded how many did. A burst of them, each within its
own bound, took the node's memory to gigabytes: an outage for every caller, the node's own
API's too. So a request takes one of `Settings.network_requests_in_flight` slots before it
asks any peer and gives it back when its answer is made, whatever ends it (an error, the
peers' timer, its client gone); one finding none waits SLOT_WAIT_SECONDS for one, then is
refused (NetworkBusy: a 503 with Retry-After, node/http/beacon_api.py error_response).

A slot frees within the fan-out's timer and the merge, so a short wait smooths a burst, and
a request still answers within the GDI portal's 5 s (docs/federation.md). The refusals are
logged as the database's outage is (node/http/outage.py): once when they start and once when
a slot is free again, with how many were refused, not once each; each is counted, as every
answer is, by route and status in /metrics (a 503 of these with `cause="network_busy"`).
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections import deque

log = logging.getLogger(__name__)

SLOT_WAIT_SECONDS = 1.0


class NetworkBusy(Exception):
    """Every slot stayed taken for SLOT_WAIT_SECONDS: answered 503, `retry_after` seconds
    (what a slot may still be held for) in its Retry-After."""

    def __init__(self, slots: int, retry_after: int) -> None:
        super().__init__(f"this network is answering {slots} network requests at once, its "
                         f"limit (network_requests_in_flight), and none ended within "
                         f"{SLOT_WAIT_SECONDS:g} s; retry later")
        self.retry_after = retry_after


class RequestSlots:
    """The slots of one process's network requests (one per application). A count and a
    queue of waiters rather than an asyncio.Semaphore, whose `locked`, `acquire`, `release`
    and `_wake_up_next` were four Python frames a request besides these two: some
    thousands of a network request's instructions (bench/federation.py --overhead --parts
    instructions). A slot given back goes to the longest waiting request, as the
    semaphore's did."""

    def __init__(self, slots: int, held_for: float) -> None:
        """`held_for`: the longest a request holds its slot but for its merge (the fan-out's
        timer), what a refused caller is told to wait."""
        self.slots = slots
        self._free = slots
        # each waiting request's future, set when a slot is handed to it
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._retry_after = max(1, math.ceil(held_for))
        self._refused = 0           # since the slots were last all taken and none freed

    async def __aenter__(self) -> None:
        """One slot for the body of `async with slots:`, given back however it ends
        (`__aexit__`); NetworkBusy when none frees within SLOT_WAIT_SECONDS. A free slot is
        taken without a timer, when no request waits for one before it. A class's methods,
        not a generator's context manager: that cost a network request some thousands of
        instructions (bench/federation.py --overhead --parts instructions)."""
        if self._free and not self._waiting:
            self._free -= 1
            return
        handed = asyncio.get_running_loop().create_future()
        self._waiting.append(handed)
        try:
            async with asyncio.timeout(SLOT_WAIT_SECONDS):
                await handed
        except TimeoutError:
            if not _handed(handed):      # else handed its slot as the timer ended: taken
                self._refuse()
                raise NetworkBusy(self.slots, self._retry_after) from None
        except BaseException:       # cancelled: a slot handed to it meanwhile goes on
            if _handed(handed):
                self._give_back()
            raise
        finally:
            if handed in self._waiting:     # cancelled as it waited (the timer, its caller)
                self._waiting.remove(handed)

    async def __aexit__(self, *_: object) -> None:
        self._give_back()
        if self._refused and self._free:
            log.warning("network requests below their limit again, %d refused with 503",
                        self._refused)
            self._refused = 0

    def _give_back(self) -> None:
        """A slot to the longest waiting request still waiting, else free."""
        while self._waiting:
            handed = self._waiting.popleft()
            if not handed.done():
                handed.set_result(None)
                return
        self._free += 1

    def _refuse(self) -> None:
        if not self._refused:
            log.warning("network requests at their limit (network_requests_in_flight: %d), "
                        "none ended within %g s: refusing more with 503 until one does",
                        self.slots, SLOT_WAIT_SECONDS)
        self._refused += 1


def _handed(waiter: asyncio.Future[None]) -> bool:
    """Whether a slot was handed to `waiter` (`_give_back`), whatever cancelled its wait."""
    return waiter.done() and not waiter.cancelled()

"""UTC time that a step of the system clock does not move at once.

The wall clock can jump: a mistaken `date -s`, a virtual machine's clock set right, NTP
stepping a large offset. Every deadline here is a wall time written to the database (a hold
ends ten minutes after it is made; a message is retried a minute after it failed), so a
step turns into holds that expire at once or e-mails held back for as long as the step. The
clock below carries the wall time forward with the system's steady clock (CLOCK_BOOTTIME,
which counts a suspend, so a resumed machine is not a step) and follows the wall clock only
while the two agree within a second. When they part by more, it keeps the steady time, logs
the step, and accepts the new wall time only if it has lasted CLOCK_STEP_GRACE_SECONDS (the
clock was wrong before, not now). A step undone within that time never reaches the data.

A process started during a step takes the stepped time as its start: the limit of a clock
that has nothing but the wall time to begin from.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

logger = logging.getLogger(__name__)

TOLERANCE_SECONDS = 1.0
DEFAULT_GRACE_SECONDS = 600.0


def _steady_seconds() -> float:
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return time.clock_gettime(boottime)
    return time.monotonic()


class SteadyClock:
    """Wall time, with steps of the wall clock held off for `grace` seconds (0: none)."""

    def __init__(
        self,
        grace: float = DEFAULT_GRACE_SECONDS,
        wall: Callable[[], float] = time.time,
        steady: Callable[[], float] = _steady_seconds,
    ) -> None:
        self.grace = grace
        self._wall = wall
        self._steady = steady
        self._lock = threading.Lock()
        self._anchor: tuple[float, float] | None = None  # (wall, steady) when they agreed
        self._step_seen_at: float | None = None  # steady time the current step was noticed

    def timestamp(self) -> float:
        """Seconds since the epoch, as this clock tells them."""
        wall, steady = self._wall(), self._steady()
        if self.grace <= 0:
            return wall
        with self._lock:
            if self._anchor is None:
                self._anchor = (wall, steady)
                return wall
            carried = self._anchor[0] + (steady - self._anchor[1])
            step = wall - carried
            if abs(step) <= TOLERANCE_SECONDS:
                if self._step_seen_at is not None:
                    logger.warning("the system clock is back in step (%+.1f s)", step)
                self._anchor, self._step_seen_at = (wall, steady), None
                return wall
            if self._step_seen_at is None:
                self._step_seen_at = steady
                logger.warning(
                    "the system clock stepped by %+.0f s; keeping the steady time for up to "
                    "%.0f s in case the step is undone",
                    step,
                    self.grace,
                )
            elif steady - self._step_seen_at >= self.grace:
                logger.warning(
                    "the system clock's step of %+.0f s has lasted %.0f s: taking it as the time",
                    step,
                    self.grace,
                )
                self._anchor, self._step_seen_at = (wall, steady), None
                return wall
            return carried

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)


# The one clock of this process: every worker thread asks the same one.
# create_app sets its grace from CLOCK_STEP_GRACE_SECONDS.
steady_now = SteadyClock()

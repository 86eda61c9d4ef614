"""Fault injection, loaded by the processes of tests/faults/test_clock_steps.py through
PYTHONPATH: their wall clock (time.time) is off by the seconds written in the file that
FAULT_CLOCK_OFFSET_FILE names, read at every call, so that a test steps it while they run.
The steady clocks (monotonic, boot time) are untouched, as they are by a real step of the
system clock."""

import os
import time

_PATH = os.environ.get("FAULT_CLOCK_OFFSET_FILE")

if _PATH:
    _real_time, _real_time_ns = time.time, time.time_ns

    def _offset() -> float:
        try:
            with open(_PATH) as file:
                return float(file.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    def _stepped_time() -> float:
        return _real_time() + _offset()

    def _stepped_time_ns() -> int:
        return _real_time_ns() + int(_offset() * 1e9)

    time.time = _stepped_time
    time.time_ns = _stepped_time_ns

"""Timing shared by the benches: process CPU seconds (these machines are shared) with wall seconds beside them."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(process seconds, wall seconds) of `run()`."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall

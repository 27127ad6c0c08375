"""The subset an evaluation's `--limit` takes: every k-th item, so that a small run still spans the whole split.

    records = evenly_spaced(records, limit)   # at most `limit` records; limit 0: all of them
"""

from __future__ import annotations

from collections.abc import Sequence


def evenly_spaced(items: Sequence, limit: int) -> Sequence:
    """At most `limit` items of `items` (a list, array or tensor) at an even stride from the first; 0: all."""
    return items[:: max(1, len(items) // limit)][:limit] if limit else items

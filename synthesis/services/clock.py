"""
The clock that limits, windows and expiries read: one seam, so tests move time
(`time_machine.travel(..., tick=False)`) instead of sleeping for it.
"""

import time


def now() -> float:
    """Seconds since the epoch, read at call time (never cached at import: time-machine must be able to move it)."""
    return time.time()

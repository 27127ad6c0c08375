"""Job kinds that misbehave on purpose, for the executor tests.

Worker processes (local or Ray) import this module by name, so the tests put this folder on
sys.path (`test_kinds` fixture in conftest.py).
"""

import ctypes
import os
import time

from gfx.jobs.fields import Field
from gfx.jobs.kinds import JOB_KINDS, JobKind


def _how(value):
    if value not in ("exit", "segfault", "hang", "raise", "ok"):
        raise ValueError("must be one of exit, segfault, hang, raise, ok")
    return value


def misbehave(params, inputs):
    """Crash, hang or raise as asked; "ok" returns one small file."""
    how = params["how"]
    if how == "exit":
        os._exit(3)
    if how == "segfault":
        ctypes.string_at(0)
    if how == "hang":
        time.sleep(3600)
    if how == "raise":
        raise RuntimeError("handler raised on purpose")
    return {".txt": b"fine"}


TEST_KINDS = {
    **JOB_KINDS,
    "misbehave": JobKind("misbehave", misbehave, {"how": Field(_how)}, summary="test kind"),
}

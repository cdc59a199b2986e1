"""The kill switch the crash-safety tests use: die at a named point, as ``kill -9`` would.

The executor and transport mark their points (``before-commit``, ``after-step-N``,
``in-step-N``); a test process sets the environment variable to one of them.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "SCHEMA_MANAGER_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here when the environment names this point (never set outside the tests)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)

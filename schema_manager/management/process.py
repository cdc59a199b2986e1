"""A command-line process's garbage collection: start-up's objects frozen, and all at exit."""

from __future__ import annotations

import atexit
import gc


def own_the_process() -> None:
    """For a process that runs one command and ends with it (``manage.py``, a benchmark's
    driver), never for a caller that lives on (``call_command`` in a server or a test).

    What importing and setting up Django made lives until the process ends: the garbage
    collector is told so (``gc.freeze``) instead of walking it at every full collection. At
    exit, what is left is frozen too: the interpreter's own collections while it shuts down
    (0.15 s for Django and this app, whatever the command did) would only find memory that
    the process gives back anyway. Exit handlers still run (stdout, logging, Django's closed
    connections are unaffected); only objects in reference cycles are not finalised, which
    Python never promises at exit.
    """
    gc.freeze()
    atexit.register(gc.freeze)

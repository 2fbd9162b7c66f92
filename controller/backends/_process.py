"""Whether a lock or claim holder on this host is still alive (every backend asks the same question)."""

from __future__ import annotations

import os
import socket

__all__ = ["holder_alive_here", "pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one owned by someone else counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:  # an impossible pid (negative, too large): nobody
        return False
    return True


def holder_alive_here(host: str, pid: int) -> bool:
    """True only when the holder is on this host and its process still runs (elsewhere: cannot tell)."""
    return host == socket.gethostname() and pid_alive(pid)

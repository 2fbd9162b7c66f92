"""Whether a lock or claim holder on this host is still alive (every backend asks the same question)."""

from __future__ import annotations

import os
import socket

from controller.backends._protocol import LockLease
from controller.errors import LockHeldError, StateError

__all__ = ["check_force_unlock", "holder_alive_here", "pid_alive"]


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


def check_force_unlock(env: str, lease: LockLease | None, lock_id: str, *, force: bool) -> LockLease:
    """The lease ``force-unlock`` may remove: it must be ``lock_id``, and (unless ``force``) its holder must
    not be a process still running here. Checked inside the backend's transaction, before the delete."""
    if lease is None or lease.lock_id != lock_id:
        held = f"the lock is held by {lease.describe()}" if lease else "no lock is held"
        raise StateError(f"environment {env!r} has no lock with id {lock_id}; {held}",
                         hint="Copy the lock id from the error that named the holder")
    if not force and holder_alive_here(lease.host, lease.pid):
        raise LockHeldError(
            f"environment {env!r}: the lock is held by {lease.describe()}, and that process is still "
            "running on this host; nothing was unlocked",
            lock_id=lock_id, holder=lease.holder,
            hint=f"Wait for it, or stop it (kill {lease.pid}); --force unlocks anyway and the holder then "
            "writes nothing more")
    return lease

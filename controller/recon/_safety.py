"""The safety guard's verdict: whether a run's deletes and unlinks break a mapping's ``safety`` limits.

One function, so that the embedded engine (which counts the deletes itself) and a tenant's run (whose
analysis counts them, ``controller.platforms.aic``) block on exactly the same rules and words.
"""

from __future__ import annotations

from controller.recon._mapping import Safety

__all__ = ["safety_block"]


def safety_block(safety: Safety, *, deletes: int, linked: int, empty_source: bool = False, window_deletes: int = 0,
                 allow_deletes: int | None = None) -> str | None:
    """Why the run must be BLOCKED (nothing destructive written), or None when it may go on.

    ``deletes``: its DELETE and UNLINK actions; ``linked``: the mapping's links when it started;
    ``empty_source``: a full read found nothing in scope; ``window_deletes``: the deletes/unlinks of the
    mapping's successful runs within ``safety.window``. ``allow_deletes N`` (a person's override) lets
    up to N through, zero meaning zero.
    """
    n = deletes
    problems: list[str] = []
    if safety.max_deletes is not None and n > safety.max_deletes:
        problems.append(f"{n} deletes/unlinks exceed safety.maxDeletes ({safety.max_deletes})")
    if safety.max_delete_percent is not None and n >= 10 and n * 100 > safety.max_delete_percent * linked:
        pct = 100.0 * n / linked if linked else 100.0
        problems.append(f"{n} deletes/unlinks are {pct:.1f}% of the {linked} linked objects, above "
                        f"safety.maxDeletePercent ({safety.max_delete_percent:g}%)")
    if n and linked and n >= linked and not safety.allow_empty_source:
        problems.append(f"{n} deletes/unlinks would remove every one of the {linked} linked objects of the "
                        "mapping (safety.allowEmptySource: true allows that)")
    if empty_source:
        problems.append("the source returned no objects in scope")
    prior = window_deletes
    if n and prior and safety.window_seconds is not None:
        total, base, span = prior + n, linked + prior, safety.window
        if safety.max_deletes is not None and total > safety.max_deletes and n <= safety.max_deletes:
            problems.append(f"with the {prior} deletes/unlinks of this mapping's runs in the last {span}, {total} "
                            f"exceed safety.maxDeletes ({safety.max_deletes}) for the window")
        if safety.max_delete_percent is not None and total >= 10 and total * 100 > safety.max_delete_percent * base:
            problems.append(f"with the {prior} deletes/unlinks of the last {span}, {total} are "
                            f"{100.0 * total / base:.1f}% of the {base} objects linked before them, above "
                            f"safety.maxDeletePercent ({safety.max_delete_percent:g}%) for the window")
    if not problems or (allow_deletes is not None and n <= allow_deletes):
        return None
    over = f"; --allow-deletes {allow_deletes} is not enough" if allow_deletes is not None else ""
    return ("; ".join(problems) + over + ". Nothing was deleted or unlinked and the delta link was not advanced. "
            f"Review them with --dry-run, then rerun with --allow-deletes {n} if they are intended")

"""Declarative automation: derived partitions follow their inputs, for any session, not only the latest.

Dagster's ``eager()`` only looks at the latest time window; a late file (the next session's open interest, a
re-published trades file) must also refresh older sessions and every as-of analysis whose window holds them.
"""

import dagster as dg

AC = dg.AutomationCondition


def follows_inputs(optional: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """Materialize a partition once any input partition updated since it was last handled, when no required
    input is missing and nothing upstream is still running. ``optional`` inputs may be missing (the next
    session's open interest before it is published, lookback days before the data starts)."""
    missing = AC.any_deps_missing()
    if optional is not None:
        missing = missing.ignore(optional)
    return (AC.any_deps_updated().since_last_handled()
            & ~missing & ~AC.any_deps_in_progress() & ~AC.in_progress()).with_label("follows_inputs")

"""Early warnings on positioning shifts between two live re-pricings, and their delivery to a webhook.

Alerts (dealer perspective): the regime label changes; spot crosses the gamma flip; the flip, the call wall or the
put wall moves by more than ``AlertRules`` allow; P(dealers long gamma), read from the signing model's position
draws (``spy_gamma.quant.uncertainty``), crosses 50%.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertRules:
    """How far a level must move between re-pricings to raise an alert (dollars of SPY)."""

    flip_move_usd: float = 1.0
    wall_move_usd: float = 1.0


def alerts_between(before: dict | None, after: dict, rules: AlertRules) -> list[dict]:
    """The alerts raised going from levels row ``before`` to ``after`` (none for the first row)."""
    if before is None:
        return []
    raised = []

    def alert(kind: str, message: str) -> None:
        raised.append({"kind": kind, "message": message, "spot": after["spot"]})

    if before["regime"] != after["regime"]:
        alert("regime_change", f"regime: {before['regime']} -> {after['regime']}")
    flip_before, flip_after = before.get("gamma_flip"), after.get("gamma_flip")
    if flip_before is not None and flip_after is not None:
        side_before, side_after = before["spot"] >= flip_before, after["spot"] >= flip_after
        if side_before != side_after:
            alert("spot_crossed_flip", f"spot {after['spot']:.2f} crossed the gamma flip {flip_after:.2f} "
                                       f"({'up' if side_after else 'down'})")
    if _moved(flip_before, flip_after, rules.flip_move_usd):
        alert("flip_moved", f"gamma flip moved {flip_before:.2f} -> {flip_after:.2f}")
    elif (flip_before is None) != (flip_after is None):
        alert("flip_moved", f"gamma flip {'appeared at ' + format(flip_after, '.2f') if flip_after else 'vanished'}")
    for wall in ("call_wall", "put_wall"):
        if _moved(before.get(wall), after.get(wall), rules.wall_move_usd):
            alert(f"{wall}_moved", f"{wall.replace('_', ' ')} moved {before[wall]:.2f} -> {after[wall]:.2f}")
    p_before, p_after = before["prob_dealers_long_gamma"], after["prob_dealers_long_gamma"]
    if (p_before > 0.5) != (p_after > 0.5):
        alert("prob_long_gamma_crossed_50", f"P(dealers long gamma) {p_before:.0%} -> {p_after:.0%}")
    return raised


def _moved(before: float | None, after: float | None, limit: float) -> bool:
    return before is not None and after is not None and abs(after - before) > limit


def post_alerts(url: str, alerts: list[dict], timeout_s: float = 5.0) -> bool:
    """POST the alerts as one JSON array; a failing webhook is logged, never fatal to the session."""
    request = urllib.request.Request(url, data=json.dumps(alerts, default=str).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return 200 <= response.status < 300
    except OSError as error:
        log.warning("webhook %s failed: %s", url.split("?")[0], error)
        return False

"""Keep credentials out of messages, logs, URLs and cache keys."""

from __future__ import annotations

import re

MASK = "***"
_KEY_PARAM = re.compile(r"([?&](?:apiKey|api_key|apikey)=)[^&#]*", re.IGNORECASE)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty secret replaced by ``***`` and any ``apiKey=`` query value masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _KEY_PARAM.sub(rf"\g<1>{MASK}", text)


def strip_api_key(url: str) -> str:
    """The URL without its ``apiKey`` query parameter (Polygon accepts the key in a header instead)."""
    stripped = re.sub(r"(?<=[?&])(?:apiKey|api_key|apikey)=[^&#]*&?", "", url, flags=re.IGNORECASE)
    return stripped.rstrip("?&")

"""Keep credentials out of messages, logs, URLs and cache keys."""

from __future__ import annotations

import os
import re

MASK = "***"
SECRET_VARIABLES = ("POLYGON_API_KEY", "POLYGON_S3_SECRET_KEY", "POLYGON_S3_ACCESS_KEY")
_KEY_PARAM = re.compile(r"([?&](?:apiKey|api_key|apikey)=)[^&#\s]*", re.IGNORECASE)


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty secret replaced by ``***`` and any ``apiKey=`` query value masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return _KEY_PARAM.sub(rf"\g<1>{MASK}", text)


def environment_secrets() -> list[str]:
    """The credentials set in this process's environment: values no message, log or file may contain."""
    return [os.environ[name] for name in SECRET_VARIABLES if os.environ.get(name)]


def strip_api_key(url: str) -> str:
    """The URL without its ``apiKey`` query parameter (Polygon accepts the key in a header instead)."""
    stripped = re.sub(r"(?<=[?&])(?:apiKey|api_key|apikey)=[^&#]*&?", "", url, flags=re.IGNORECASE)
    return stripped.rstrip("?&")

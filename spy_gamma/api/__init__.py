"""Read-only HTTP API over the lake, and the live page."""

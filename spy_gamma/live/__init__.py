"""Live session: the options feed (or a local replay of it) into an incremental dealer book, flow and alerts."""

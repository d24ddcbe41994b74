"""Is the Hugging Face hub there?  Asked before any download, so an offline learner gets the
message at once (with what to do instead), not after the hub client's retries."""
from __future__ import annotations

import os
import socket


def _reachable(host: str, timeout: float = 3.0) -> bool:
    """A quick connection test."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_reachable() -> bool:
    """False when told to stay offline (HF_HUB_OFFLINE) or when huggingface.co does not answer at once."""
    return os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "", "false", "False") and _reachable("huggingface.co")

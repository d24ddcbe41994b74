"""One exception type for everything a user can get wrong.

The CLI and the app show its message as is, so every message says what is
wrong and what to do about it.  Programming errors stay ordinary exceptions.
"""


class PocketLLMError(ValueError):
    """Bad input from the user: a file, a config, a hyper-parameter."""

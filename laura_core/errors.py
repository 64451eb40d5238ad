"""Errors meant for users: the CLI prints them as one line, without a traceback."""


class LauraError(Exception):
    """A user-facing error (bad input, bad config, bad plugin). The message says what and where."""


class RegistryError(LauraError):
    """A plugin registered something invalid or something already registered."""


class ConfigError(LauraError):
    """A config key is unknown, has the wrong type, or a value is invalid."""


class DataError(LauraError):
    """An input file or record is malformed; the message names the file, record id or line, and field."""


class LayoutMismatchError(LauraError):
    """A checkpoint's vocabulary layout differs from the one in use."""

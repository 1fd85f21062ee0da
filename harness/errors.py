"""The one exception every layer raises when the harness cannot run."""


class HarnessError(Exception):
    """The harness cannot run (exit status 2); the message is one line for the user."""

"""One exception type for every problem a user can fix (bad input, missing files).

The CLI and the pytest plugin turn it into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input: message says what was wrong and what is valid."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty), for one-line errors."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

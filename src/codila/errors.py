"""The one error type users see: a message that says what to do. The CLI prints it and exits 2."""


class CodilaError(ValueError):
    """Bad input or a missing/mismatched file: the message tells the user how to fix it."""

"""Exceptions shared by the library; jobs map them to exit codes (see m2t.cli)."""


class M2TError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""


class InputError(M2TError):
    """An input file is missing, unreadable or of an unknown format (exit code 2)."""


class PlacementError(M2TError):
    """The Ray cluster cannot place what the config asks for (exit code 4); the message says what to lower
    (raised by :mod:`m2t.placement`)."""


class MismatchError(M2TError):
    """A store or checkpoint was built with other settings than the ones asked for (exit code 3)."""


class StorageError(InputError):
    """A store or output location cannot be used (exit code 2): no such bucket, access denied, endpoint unreachable,
    not a writable directory, or inside Ray's unpacked working directory (raised by :mod:`m2t.preflight`)."""

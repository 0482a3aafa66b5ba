"""Exit statuses, so scripts can tell bad input from a failed node."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a node did not converge, or a check found a problem
    BAD_INPUT = 2  # inventory or command line is wrong; nothing was touched
    UNREACHABLE = 3  # a node could not be reached or its host key is unknown
    INTERNAL = 70  # a bug in lbdeploy

"""One way for every command-line entry point to end: a result, or one error line and status 2.

Intended errors (golden.errors.UserError and its subclasses: golden's, hexgen's and tb's own
types) print `prog: error: <message>` on stderr and exit with status 2; no Python traceback
unless $INT8SIM_DEBUG=1 asks for it (then the exception propagates). Anything else is a bug in
the tool and keeps its traceback.
"""
from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence

from golden.errors import UserError

DEBUG_VAR = "INT8SIM_DEBUG"
#: Exit status of an intended error (the same as argparse's usage errors).
ERROR_STATUS = 2


def debug() -> bool:
    return os.environ.get(DEBUG_VAR, "") not in ("", "0")


def error_line(prog: str, exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{prog}: error: {text}"


def run_cli(prog: str, main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run `main(argv)` and turn intended errors into one line on stderr and status 2."""
    try:
        return main(argv)
    except UserError as exc:
        if debug():
            raise
        print(error_line(prog, exc), file=sys.stderr, flush=True)
        return ERROR_STATUS
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return 130
    except OSError as exc:
        # the machine refusing a write (a read-only build/, a full disk, no permission) is the
        # user's to fix, not a bug of the tool: one line naming the file
        if exc.errno not in _ENVIRONMENT_ERRNOS or debug():
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{prog}: error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return ERROR_STATUS


#: errors of the machine, not of the tool: read-only file system, no space left, over quota, no permission
_ENVIRONMENT_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM}

"""Progress lines on standard error: rewritten in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys


class ProgressLine:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last = 0

    def show(self, text: str, *, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stderr.write("\r" + text.ljust(self._last) + ("\n" if final else ""))
            self._last = len(text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

"""Entry point for ``python -m pneumo_desktop`` and for the frozen (PyInstaller) app."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--scan"]:
        from .cli import main as scan_main

        return scan_main(argv[1:])
    if argv[:1] == ["--self-test"]:
        from .selftest import main as selftest_main

        return selftest_main(argv[1:])
    from .gui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())

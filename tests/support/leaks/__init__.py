"""One leak scanner for every test that claims nothing leaked: see scanner.py."""

from tests.support.leaks.scanner import IncompleteScanError, LeakScanner, assert_no_leak
from tests.support.leaks.search import Hit

__all__ = ["Hit", "IncompleteScanError", "LeakScanner", "assert_no_leak"]

"""The tests' ``flush``: what Django's does, in less time (docs/testing.md, "The suite's time").

Installed first in tests/settings.py only, so that its ``flush`` command stands in for Django's
wherever the tests flush: pytest-django ends each transactional test with ``call_command("flush")``.
"""

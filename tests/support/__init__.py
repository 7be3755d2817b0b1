"""Plain helpers and data of the tests, no fixtures: OpenIOC archives, golden payloads, catalog cases, page helpers.

Test modules import from here (and the plain helpers of tests/fixtures/), never from another test
module; a fixture goes in tests/fixtures/ instead, registered in tests/conftest.py (docs/testing.md).
"""

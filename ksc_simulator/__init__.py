"""A stand-in for Kaspersky Security Center's Open API (and the KES behind it), for demos and tests.

Not part of the portal: nothing here imports the ``responses`` package, so the simulator
checks what the portal sends as a real KSC would, from the documented behaviour
(docs/ksc-wire.md), not from the portal's own code. tests/test_ksc_simulator_standalone.py
keeps it that way.
"""

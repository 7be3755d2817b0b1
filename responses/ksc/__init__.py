"""Everything that talks to a real Kaspersky Security Center: attribute names, wire values, payloads,
filters, transport, the two clients and their factory. The stand-in KSC is the ksc_simulator app."""

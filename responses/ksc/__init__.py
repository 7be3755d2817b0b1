"""Everything that talks to Kaspersky Security Center: wire values, payloads, client, simulator."""

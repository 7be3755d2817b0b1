"""Everything that talks to a real Kaspersky Security Center: attribute names, wire values, filters,
transport, the two clients (built-in and KlAkOAPI), the task calls and the ``[Response]`` task name.

No web framework here: a client takes its configuration as a ``KscConfig`` handed in (the portal builds
them from its settings in ``responses/ksc_servers.py``). The stand-in KSC is ``ksc_simulator/``.
"""

from ksc_client.client import KscClient, KscConfig, KscConfigError
from ksc_client.errors import KscError

__all__ = ["KscClient", "KscConfig", "KscConfigError", "KscError"]

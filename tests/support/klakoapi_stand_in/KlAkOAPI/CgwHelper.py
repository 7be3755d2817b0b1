"""KlAkCgwHelper of the stand-in (where a secondary server is, for a gateway connection)."""

from .Base import KlAkProxy, method


class KlAkCgwHelper(KlAkProxy):
    GetSlaveServerLocation = method("CgwHelper", "GetSlaveServerLocation", "nSlaveServerId")

"""KlAkGatewayConnection of the stand-in (a one-time key for a KSCGW login at the primary's URL)."""

from .Base import KlAkProxy, method


class KlAkGatewayConnection(KlAkProxy):
    PrepareGatewayConnection = method("GatewayConnection", "PrepareGatewayConnection", "pLocations")

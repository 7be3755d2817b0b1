"""KlAkGatewayConnection of the stand-in (a one-time key for a KSCGW login at the primary's URL)."""

from .Base import KlAkProxy, method


class KlAkGatewayConnection(KlAkProxy):
    # Both answer the out par wstrAuthKey and no PxgRetVal.
    PrepareGatewayConnection = method("GatewayConnection", "PrepareGatewayConnection", "pLocations", retval=False)
    PrepareGatewayConnectionToSecondaryServer = method(
        "GatewayConnection", "PrepareGatewayConnectionToSecondaryServer", "srvInstanceId", retval=False
    )

"""KlAkServerHierarchy of the stand-in (secondary servers; for the several-servers work)."""

from .Base import KlAkProxy, method


class KlAkServerHierarchy(KlAkProxy):
    GetChildServers = method("ServerHierarchy", "GetChildServers", "nGroupId")

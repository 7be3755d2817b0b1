"""KlAkHostGroup of the stand-in: the calls the portal makes, with KlAkOAPI 15.1's parameter names."""

from .Base import KlAkProxy, method


class KlAkHostGroup(KlAkProxy):
    AddIncident = method("HostGroup", "AddIncident", "pData")
    UpdateIncident = method("HostGroup", "UpdateIncident", "nId", "pData", retval=False)
    DeleteIncident = method("HostGroup", "DeleteIncident", "nId", retval=False)
    FindIncidents = method("HostGroup", "FindIncidents", "strFilter", "pFieldsToReturn", "pFieldsToOrder", "lMaxLifeTime")
    FindHosts = method(
        "HostGroup", "FindHosts", "wstrFilter", "vecFieldsToReturn", "vecFieldsToOrder", "pParams", "lMaxLifeTime"
    )
    FindHostsAsync = method(
        "HostGroup", "FindHostsAsync", "wstrFilter", "vecFieldsToReturn", "vecFieldsToOrder", "pParams", "lMaxLifeTime"
    )
    FindHostsAsyncGetAccessor = method("HostGroup", "FindHostsAsyncGetAccessor", "strRequestId")
    GetHostInfo = method("HostGroup", "GetHostInfo", "strHostName", "pFields2Return")
    GetHostTasks = method("HostGroup", "GetHostTasks", "strHostName")
    GroupIdGroups = method("HostGroup", "GroupIdGroups")
    GetGroupId = method("HostGroup", "GetGroupId", "nParent", "strName")
    GetSubgroups = method("HostGroup", "GetSubgroups", "nGroupId", "nDepth")

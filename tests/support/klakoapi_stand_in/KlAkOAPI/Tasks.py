"""KlAkTasks of the stand-in: the task calls the outcome sweep makes."""

from .Base import KlAkProxy, method


class KlAkTasks(KlAkProxy):
    ResetTasksIterator = method(
        "Tasks",
        "ResetTasksIterator",
        "nGroupId",
        "bGroupIdSignificant",
        "strProductName",
        "strVersion",
        "strComponentName",
        "strInstanceId",
        "strTaskName",
        "bIncludeSupergroups",
    )
    GetNextTask = method("Tasks", "GetNextTask", "strTaskIteratorId")
    ReleaseTasksIterator = method("Tasks", "ReleaseTasksIterator", "strTaskIteratorId", retval=False)
    GetAllTasksOfHost = method("Tasks", "GetAllTasksOfHost", "strDomainName", "strHostName")
    GetTask = method("Tasks", "GetTask", "strTask")
    GetTaskStatistics = method("Tasks", "GetTaskStatistics", "strTask")
    GetTaskHistory = method("Tasks", "GetTaskHistory", "strTask", "pFields2Return", "pSortFields", "strHostName", "pFilter")

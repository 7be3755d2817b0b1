"""KlAkEventProcessing of the stand-in: paging a task's history."""

from .Base import KlAkProxy, method


class KlAkEventProcessing(KlAkProxy):
    GetRecordCount = method("EventProcessing", "GetRecordCount", "strIteratorId")
    GetRecordRange = method("EventProcessing", "GetRecordRange", "strIteratorId", "nStart", "nEnd")
    ReleaseIterator = method("EventProcessing", "ReleaseIterator", "strIteratorId", retval=False)

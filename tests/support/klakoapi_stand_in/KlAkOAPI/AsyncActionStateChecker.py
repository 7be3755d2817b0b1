"""KlAkAsyncActionStateChecker of the stand-in (polls an asynchronous action such as FindHostsAsync)."""

from .Base import KlAkProxy, method


class KlAkAsyncActionStateChecker(KlAkProxy):
    CheckActionState = method("AsyncActionStateChecker", "CheckActionState", "wstrActionGuid", retval=False)

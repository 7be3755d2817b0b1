"""Answer parsing of the stand-in (see the package docstring)."""

import json

from .Error import KlAkError, KlAkResponseError
from .Params import KlAkArray, KlAkParams


class KlAkResponse:
    def __init__(self, respose_text):
        self.respose_text = respose_text  # sic: KlAkOAPI's spelling, which callers read
        self.retval = None
        self.outpars = {}
        if not isinstance(respose_text, dict):
            return
        if "PxgError" in respose_text:
            raise KlAkError(respose_text["PxgError"])
        for key, value in respose_text.items():
            wrapped = KlAkParams(value) if isinstance(value, dict) else KlAkArray(value) if isinstance(value, list) else value
            if key == "PxgRetVal":
                self.retval = wrapped
            else:
                self.outpars[key] = wrapped

    def RetVal(self):
        return self.retval

    def OutPar(self, par_name):
        return self.outpars.get(par_name)

    def OutParExists(self, par_name):
        return par_name in self.outpars

    def OutPars(self):
        return self.outpars


class KlAkBase:
    common_headers = {"Content-Type": "application/json"}

    def ParseResponse(self, response_code, response_text, retval=True, out_pars=None):
        if response_code != 200:
            raise KlAkResponseError(response_text)
        return KlAkResponse(json.loads(response_text))


def method(class_name: str, name: str, *params: str, retval: bool = True):
    """A KlAkOAPI-style method: every parameter required, by position or by its KSC name."""

    def call(self, *args, **kwargs):
        if len(args) > len(params):
            raise TypeError(f"{name}() takes {len(params)} arguments")
        values = dict(zip(params, args, strict=False))
        for key, value in kwargs.items():
            if key not in params:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            values[key] = value
        missing = [param for param in params if param not in values]
        if missing:
            raise TypeError(f"{name}() missing required arguments: {', '.join(missing)}")
        prefix = f"{self.instance}." if self.instance else ""
        body = json.dumps({param: values[param] for param in params}, cls=_encoder())
        response = self.server.session.post(
            url=self.server.Call(f"{prefix}{class_name}.{name}"), headers=KlAkBase.common_headers, data=body
        )
        return self.ParseResponse(response.status_code, response.text, retval=retval)

    call.__name__ = name
    return call


def _encoder():
    from .Params import KlAkParamsEncoder

    return KlAkParamsEncoder


class KlAkProxy(KlAkBase):
    """The base of every API class: built on a connected KlAkAdmServer."""

    def __init__(self, server, instance=""):
        self.server = server
        self.instance = instance

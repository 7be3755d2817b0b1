"""Params containers of the stand-in (see the package docstring).

Values already in the wire form (strings, numbers, booleans, None, lists, and
``{"type": ..., "value": ...}`` objects) are kept as they are; a plain nested
dict becomes a ``params`` value, as KlAkOAPI wraps it.
"""

import base64
import datetime
import json

from .Error import KlAkParamTypeError

WIRE_TYPES = {"date", "datetime", "binary", "long", "float", "double", "params"}


def is_wire_value(value) -> bool:
    if value is None or isinstance(value, (str, bool, int, float, list, KlAkArray, KlAkParams)):
        return True
    return isinstance(value, dict) and set(value) == {"type", "value"} and value.get("type") in WIRE_TYPES


def wire(value):
    if isinstance(value, (KlAkParams, KlAkArray)):
        return value.data
    if is_wire_value(value):
        return value
    if isinstance(value, dict):
        return {"type": "params", "value": KlAkParams(value).data}
    raise KlAkParamTypeError(f"no KSC type for a value of type {type(value).__name__}")


def extractParamValue(value):
    """The typed value of a wire value, as KlAkOAPI's ``[]`` gives it (params -> KlAkParams, long -> int...)."""
    if isinstance(value, list):
        return KlAkArray(value)
    if not (isinstance(value, dict) and set(value) == {"type", "value"}):
        return value
    kind, inner = value["type"], value["value"]
    if kind == "params":
        return KlAkParams(inner)
    if kind == "datetime":
        return datetime.datetime.strptime(inner, "%Y-%m-%dT%H:%M:%SZ")
    if kind == "date":
        return datetime.date.fromisoformat(inner)
    if kind == "binary":
        return base64.b64decode(inner)
    return inner


class KlAkParams:
    def __init__(self, data=None):
        self.data = {}
        if data is None:
            return
        if isinstance(data, KlAkParams):
            self.data = json.loads(json.dumps(data.data))
            return
        if not isinstance(data, dict):
            raise KlAkParamTypeError("KlAkParams is built from a dict")
        for key, value in data.items():
            self.data[key] = wire(value)

    def __contains__(self, name):
        return name in self.data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, name):
        """The typed value (as KlAkOAPI: int for a long, KlAkParams for params...); GetValue keeps the wire form."""
        if name not in self.data:
            raise KlAkParamTypeError(f"KlAkParams object does not contain <{name}> section")
        return extractParamValue(self.data[name])

    def GetNames(self):
        return self.data.keys()

    def GetValue(self, name):
        return self.data[name]

    def __repr__(self):
        return repr(self.data)


class KlAkArray:
    def __init__(self, data=None):
        self.data = [wire(value) for value in (data or [])]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        """The typed value of an element (as KlAkOAPI); GetValue keeps the wire form."""
        return extractParamValue(self.data[index])

    def GetValue(self, index):
        return self.data[index]


class KlAkParamsEncoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, (KlAkParams, KlAkArray)):
            return o.data
        return super().default(o)


def paramParams(value):
    """A params value for an array element or a nested value: ``{"type": "params", "value": {...}}``."""
    if not isinstance(value, (dict, KlAkParams)):
        raise KlAkParamTypeError(f"paramParams expects a dict or KlAkParams, not {type(value).__name__}")
    data = value.data if isinstance(value, KlAkParams) else KlAkParams(value).data
    return {"type": "params", "value": data}

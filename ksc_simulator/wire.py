"""KSC Open API value encoding as the simulated server reads and writes it (docs/ksc-wire.md, section 4).

The simulator's own copy, not the portal's ksc_client/wire.py: it stands alone, as KSC does.

Plain JSON carries strings, 32-bit ints and booleans. Anything else travels as
``{"type": T, "value": V}``. A top-level params argument (pData) is a plain
object; params nested inside it, or inside arrays, are wrapped as
``{"type": "params", "value": {...}}``.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class Long(int):
    """An integer that must travel as a 64-bit ``long`` even when it would fit in 32 bits."""


def format_datetime(value: dt.datetime) -> str:
    """UTC, whole seconds, ``Z``: KSC's datetime. Aware values are converted; naive ones are taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> dt.datetime:
    """The inverse of format_datetime: an aware UTC datetime. ValueError on anything else."""
    parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    return parsed.replace(tzinfo=dt.UTC)


def encode_value(value: Any) -> Any:
    """A Python value as it goes on the wire inside params."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Long):
        return {"type": "long", "value": int(value)}
    if isinstance(value, int):
        if INT32_MIN <= value <= INT32_MAX:
            return value
        return {"type": "long", "value": value}
    if isinstance(value, float):
        return {"type": "double", "value": value}
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": format_datetime(value)}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, (bytes, bytearray)):
        return {"type": "binary", "value": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {"type": "params", "value": encode_params(value)}
    if isinstance(value, (list, tuple)):
        return [encode_value(item) for item in value]
    raise TypeError(f"cannot encode {type(value).__name__} for the KSC Open API")


def encode_params(params: dict[str, Any]) -> dict[str, Any]:
    """A params object's members encoded; the object itself stays plain (top-level form)."""
    return {str(key): encode_value(value) for key, value in params.items()}


def decode_value(value: Any) -> Any:
    """A wire value back to Python: typed objects unwrapped, params to dicts, datetimes aware UTC."""
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    if isinstance(value, dict):
        kind = value.get("type")
        if set(value) == {"type", "value"} and isinstance(kind, str):
            inner = value["value"]
            if kind == "params":
                return decode_params(inner) if isinstance(inner, dict) else inner
            if kind == "datetime" and isinstance(inner, str):
                try:
                    return parse_datetime(inner)
                except ValueError:
                    return inner
            if kind == "date" and isinstance(inner, str):
                try:
                    return dt.date.fromisoformat(inner)
                except ValueError:
                    return inner
            if kind == "binary" and isinstance(inner, str):
                try:
                    return base64.b64decode(inner)
                except ValueError:
                    return inner
            if kind == "long":
                return Long(inner) if isinstance(inner, int) and not isinstance(inner, bool) else inner
            return inner
        return decode_params(value)
    return value


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    return {key: decode_value(value) for key, value in params.items()}

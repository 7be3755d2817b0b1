"""What every simulated Open API call shares: KSC's error answer and the checks of its arguments.

Apart from server.py so that the task calls (tasks.py), which server.py dispatches to, use the
same checks without importing the server: no import cycle inside the simulator.
"""

from __future__ import annotations

from typing import Any

ERR_BAD_PARAM = 1170
ERR_NO_METHOD = 1172
ERR_NOT_FOUND = 1183



class PxgError(Exception):
    """A call refused the way KSC refuses it: HTTP 200 with a PxgError object."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def answer(self) -> dict[str, Any]:
        return {
            "PxgError": {
                "code": self.code,
                "subcode": 0,
                "module": "KLSTD",
                "file": "ksc_simulator",
                "line": 0,
                "message": self.message,
                "locdata": {
                    "type": "params",
                    "value": {"format-id": self.code, "format": "%1", "locmodule": "KLSTD", "args": [self.message]},
                },
            }
        }


def bad_param(message: str) -> PxgError:
    return PxgError(ERR_BAD_PARAM, message)


def _int(value: Any, name: str, *, long_ok: bool = True) -> int:
    """A plain JSON int, or (where KSC types it long) {"type": "long", "value": n}."""
    if long_ok and isinstance(value, dict) and value.get("type") == "long" and set(value) == {"type", "value"}:
        value = value["value"]
    if type(value) is not int:
        raise bad_param(f"{name} must be an integer")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise bad_param(f"{name} must be a string")
    return value


def _only(args: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    missing = [name for name in required if name not in args]
    if missing:
        raise bad_param(f"missing parameter {', '.join(missing)}")
    unknown = [name for name in args if name not in required and name not in optional]
    if unknown:
        raise bad_param(f"unexpected parameter {', '.join(unknown)}")

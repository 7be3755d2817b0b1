"""Real OpenIOC documents and ZIP archives of them, for the tests that send an iocScan."""

from __future__ import annotations

import base64
import io
import zipfile

OPENIOC_10 = "http://schemas.mandiant.com/2010/ioc"
OPENIOC_11 = "http://openioc.org/schemas/OpenIOC_1.1"


def openioc(
    ioc_id: str = "6d2a1b2c-0000-4000-8000-000000000001",
    namespace: str = OPENIOC_10,
    description: str = "Known bad file",
) -> bytes:
    """A minimal OpenIOC document: one indicator on a file's MD5."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<ioc xmlns="{namespace}" id="{ioc_id}">'
        f"<short_description>{description}</short_description><definition>"
        '<Indicator operator="OR" id="i1"><IndicatorItem id="i2" condition="is">'
        '<Context document="FileItem" search="FileItem/Md5sum" type="mir"/>'
        '<Content type="md5">0123456789abcdef0123456789abcdef</Content>'
        "</IndicatorItem></Indicator></definition></ioc>"
    ).encode()


def ioc_zip_bytes(files: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in (files or {"rule.ioc": openioc()}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def ioc_zip_b64(files: dict[str, bytes] | None = None) -> str:
    return base64.b64encode(ioc_zip_bytes(files)).decode("ascii")

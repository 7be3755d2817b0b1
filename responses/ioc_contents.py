"""What an IOC archive holds, for the approver: each OpenIOC file, its description, and how many
indicators of each type it has (issue 30, point 1).

The archive was checked when it was filed (responses/catalog.py: OpenIOC 1.0/1.1 documents, no
DTD or entities, sizes bounded); here it is only read, with the same safe parser. The summary of
one archive (by its SHA-256) is kept in the cache for a day: a queue page shows it without
unpacking the archive each time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections import Counter
from typing import Any

from django.core.cache import cache

CACHE_SECONDS = 24 * 3600
MAX_DESCRIPTION = 300  # characters of a file's description shown on a card


def _local(tag: str) -> str:
    return tag.rpartition("}")[2] if tag.startswith("{") else tag


def _text(root: Any, name: str) -> str:
    for element in root:
        if _local(element.tag) == name and (element.text or "").strip():
            return " ".join(element.text.split())
    return ""


def _indicator_type(item: Any) -> str:
    """An IndicatorItem's type: its Context's document ("FileItem", "Network", "ProcessItem"...)."""
    for child in item:
        if _local(child.tag) == "Context":
            return (child.get("document") or "").strip() or (child.get("search") or "").partition("/")[0] or "?"
    return "?"


def _describe(name: str, data: bytes) -> dict[str, Any]:
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except Exception:  # noqa: BLE001 - checked at filing; a file that no longer parses is said, not a failed page
        return {"name": name, "description": "", "counts": [], "total": 0, "unreadable": True}
    description = _text(root, "short_description") or _text(root, "description")
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1] + "…"
    counts = Counter(_indicator_type(item) for item in root.iter() if _local(item.tag) == "IndicatorItem")
    return {
        "name": name,
        "description": description,
        "counts": sorted(counts.items()),
        "total": sum(counts.values()),
        "unreadable": False,
    }


def contents(value: str) -> list[dict[str, Any]]:
    """Each file of the archive (base64, as filed): name, description, indicators by type; [] when unreadable."""
    try:
        data = base64.b64decode(value)
    except (ValueError, TypeError):
        return []
    key = f"portal:ioc-contents:{hashlib.sha256(data).hexdigest()}"
    found = cache.get(key)
    if found is not None:
        return found
    files = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    files.append(_describe(info.filename, archive.read(info)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, RuntimeError, ValueError):
        return []
    cache.set(key, files, CACHE_SECONDS)
    return files

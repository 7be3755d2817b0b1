"""The nine EDR Threat Response task types, declared once as data.

docs/ksc-wire.md, section 1, is the source. Forms, the REST API's serializers and JSON
Schema, validation and the KSC payload are all derived from the declarations
below; nothing else in the project lists a task's fields.

Decisions where the product document is silent (also in README.md):

- A file task (getFile, deleteFile, quarantineFile, terminateProcess) must name
  the file by at least one of md5hash, sha256hash or path: a request naming no
  file cannot do anything.
- md5hash, sha256hash and path of those tasks may be left out; they are then
  sent as empty strings, because KSC's types declare them as always present.
- preventExecution needs its md5 ``hash``; its ``path`` may be empty.
- Optional strings (startProcess's arguments and workingFolder) that are empty
  are left out of the payload, as if never given.
- Every string is refused when it holds a control character (tabs and line
  breaks included): none of these fields has a legitimate use for one, and
  they hide text from the people who approve it. The same goes for invisible
  characters: Unicode format characters (bidi overrides, zero-width spaces and
  joiners, the BOM), line and paragraph separators and blank fillers, which can
  make a path read differently on the approval page than what KES receives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

# Characters nobody can see: defined with the accounts (a username shown to approvers is checked the same way).
from accounts.visible import INVISIBLE_CATEGORIES, INVISIBLE_FILLERS, char_name, invisible_char  # noqa: F401

MAX_STRING = 4096
MAX_HOST_ID = 256
MAX_SCAN_OBJECTS = 16
MAX_IOC_ZIP_BYTES = 10 * 1024 * 1024
# Refuse archives that claim to unpack to more than this: KES unpacks them on
# the endpoint, and a small zip bomb would also stall our own check.
MAX_IOC_UNPACKED_BYTES = 100 * 1024 * 1024
# An IOC archive holds a few IOC files; thousands of entries only cost the parser and KES time.
MAX_IOC_ENTRIES = 1000
# The uploaded archive's file name, as the preview and the request page show it (never sent to KSC).
MAX_ARCHIVE_NAME = 120

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

# KES's ScanObjectType (docs/ksc-wire.md, section 1).
SCAN_OBJECT_TYPES: dict[int, Any] = {
    14: _("System memory"),
    15: _("Startup objects and running processes"),
    16: _("Disk boot sectors"),
    17: _("System backup storage"),
    18: _("Email"),
    22: _("Folder"),
    23: _("All removable drives"),
    24: _("All network drives"),
    25: _("All fixed drives"),
}
SCAN_TYPE_FOLDER = 22

# Isolating comes first: the web form shows these as two plain choices in this order.
ISOLATION_ACTIONS: dict[int, Any] = {1: _("Isolate from the network"), 0: _("End isolation")}


class ParamErrors(Exception):
    """Validation failures keyed by field path ("md5hash", "[2].path"; "" for the whole)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{key or 'params'}: {' '.join(msgs)}" for key, msgs in errors.items()))
        self.errors = errors


# Field kinds.
STRING = "string"
PATH = "path"
MD5 = "md5"
SHA256 = "sha256"
BOOL = "bool"
CHOICE = "choice"
IOC_ZIP = "ioc_zip"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    label: Any
    help_text: Any
    # required: the key must be present. optional fields may be absent and are then not sent.
    required: bool = True
    # default: sent when the key is absent (then the key is not required of the caller).
    default: Any = None
    allow_empty: bool = False
    choices: dict[int, Any] | None = None

    @property
    def must_be_given(self) -> bool:
        return self.required and self.default is None


# Whether a task type's requests need approval, declared on each TaskType (APPROVALS_REQUIRED, or
# APPROVALS_REQUIRED_<TASK>, says by how many approvers).
ALWAYS = "always"  # every request changes the endpoint
NEVER = "never"  # no request changes it
DEPENDS_ON_PARAMS = "depends_on_params"  # a request changes it when one of the task's approval_when switches is on
APPROVAL_RULES = (ALWAYS, NEVER, DEPENDS_ON_PARAMS)


@dataclass(frozen=True)
class TaskType:
    name: str
    label: Any
    summary: Any  # one line: what it does to the endpoint
    fields: tuple[Field, ...]
    approval: str  # ALWAYS, NEVER or DEPENDS_ON_PARAMS
    describe: Callable[[Any], str]  # the action in plain words, for approvers
    list_params: bool = False  # onDemandScan: params is an array of objects
    checks: tuple[Callable[[dict], dict[str, list[str]]], ...] = ()
    # What must be true on the endpoint for the task to do anything; shown wherever it is filed or decided.
    caveat: Any = ""
    # DEPENDS_ON_PARAMS: the boolean params that make a request change the endpoint (any one of them).
    approval_when: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A mistake in the catalog must stop the portal at start-up, not let a destructive task through.
        if self.approval not in APPROVAL_RULES:
            raise ValueError(f"{self.name}: approval must be one of {APPROVAL_RULES}, not {self.approval!r}")
        if (self.approval == DEPENDS_ON_PARAMS) != bool(self.approval_when):
            raise ValueError(
                f"{self.name}: approval_when names the switches of a DEPENDS_ON_PARAMS task, and only those"
            )
        for name in self.approval_when:
            if self.field(name).kind != BOOL:
                raise ValueError(f"{self.name}: approval_when names {name!r}, which is not a yes/no field")

    def changes_endpoint(self, params: Any) -> bool:
        """Whether a request with these (cleaned) params changes the endpoint, so needs approval."""
        if self.approval == DEPENDS_ON_PARAMS:
            return any(bool(params.get(name)) for name in self.approval_when)
        return self.approval == ALWAYS

    # The params of the same task that undo these (an isolation's release), or None: nothing to undo.
    undo: Callable[[Any], dict | None] | None = None
    # The action in words for chat and e-mail, when ``describe`` says more than a message may carry
    # (startProcess's arguments can hold a password); None: ``describe``.
    describe_in_message: Callable[[Any], str] | None = None

    # The task's name in message subjects when its params change what it is (an isolation and its
    # release must not share a subject); None: ``label``.
    subject_label: Callable[[Any], str] | None = None

    def label_for(self, params: Any) -> str:
        """The task's name for a message's subject and headline facts."""
        return str(self.subject_label(params) if self.subject_label else self.label)

    def message_words(self, params: Any) -> str:
        """The action in plain words for notifications: never a param that may hold a secret."""
        return (self.describe_in_message or self.describe)(params)

    def undo_params(self, params: Any) -> dict | None:
        """The params of the request that undoes one with ``params``; None when there is none."""
        return self.undo(params) if self.undo is not None and isinstance(params, dict) else None

    def field(self, name: str) -> Field:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)


def _md5_field(what: Any) -> Field:
    return Field("md5hash", MD5, _("MD5 hash"), what, default="", allow_empty=True)


def _sha256_field(what: Any) -> Field:
    return Field("sha256hash", SHA256, _("SHA-256 hash"), what, default="", allow_empty=True)


def _path_field(what: Any) -> Field:
    return Field("path", PATH, _("File path"), what, default="", allow_empty=True)


def _names_a_file(params: dict) -> dict[str, list[str]]:
    if params.get("md5hash") or params.get("sha256hash") or params.get("path"):
        return {}
    return {"": [str(_("Name the file by at least one of md5hash, sha256hash or path."))]}


def _file_words(params: dict) -> str:
    parts = []
    if params.get("path"):
        parts.append(params["path"])
    if params.get("sha256hash"):
        parts.append(f"sha256 {params['sha256hash']}")
    if params.get("md5hash"):
        parts.append(f"md5 {params['md5hash']}")
    return ", ".join(parts)


def _start_process_in_message(params: Any) -> str:
    words = str(_("Start %(exe)s")) % {"exe": params["executablePath"]}
    arguments = params.get("arguments") or ""
    if arguments:
        words += " " + str(
            ngettext(
                "(arguments: %(count)d character, see the portal)",
                "(arguments: %(count)d characters, see the portal)",
                len(arguments),
            )
        ) % {"count": len(arguments)}
    return words


def _ioc_then(params: dict) -> str:
    """What iocScan does after the scan: only if an IOC is found, never a promise that it will isolate."""
    steps = [
        str(text)
        for key, text in (
            ("isolateHost", _("isolate the host")),
            ("quarantineObject", _("remove what is found")),
            ("scanCriticalAreas", _("scan critical areas")),
        )
        if params.get(key)
    ]
    return str(_("; if any is found: ")) + str(_(", and ")).join(steps) if steps else ""


FILE_FIELDS_HELP = {
    "md5": _("Empty, or the file's MD5 hash (32 hexadecimal digits)."),
    "sha256": _("Empty, or the file's SHA-256 hash (64 hexadecimal digits)."),
}


def _file_task(
    name: str, label: Any, summary: Any, path_help: Any, action: Any, *, approval: str, extra: tuple[Field, ...] = ()
) -> TaskType:
    """getFile, deleteFile, quarantineFile, terminateProcess: a file named by MD5, SHA-256 and/or path.

    ``action`` words the task for approvers, with ``%(file)s`` where the file goes.
    """
    return TaskType(
        name=name,
        label=label,
        summary=summary,
        fields=(
            _md5_field(FILE_FIELDS_HELP["md5"]),
            _sha256_field(FILE_FIELDS_HELP["sha256"]),
            _path_field(path_help),
            *extra,
        ),
        approval=approval,
        describe=lambda p: str(action) % {"file": _file_words(p)},
        checks=(_names_a_file,),
    )


TASKS: dict[str, TaskType] = {
    task.name: task
    for task in (
        _file_task(
            "getFile",
            _("Get file"),
            _("Fetches a copy of a file from the host; the host is not changed."),
            _("Path of the file to fetch."),
            _("Fetch the file %(file)s"),
            approval=NEVER,
        ),
        _file_task(
            "deleteFile",
            _("Delete file"),
            _("Deletes a file on the host."),
            _("Path of the file to delete."),
            _("Delete the file %(file)s"),
            approval=ALWAYS,
            extra=(
                Field(
                    "searchInSubfolders",
                    BOOL,
                    _("Search in subfolders"),
                    _("Look for the file in subfolders of the path, recursively."),
                    required=False,
                ),
            ),
        ),
        _file_task(
            "quarantineFile",
            _("Quarantine file"),
            _("Moves a file on the host into quarantine."),
            _("Path of the file to quarantine."),
            _("Quarantine the file %(file)s"),
            approval=ALWAYS,
        ),
        TaskType(
            name="iocScan",
            label=_("IOC scan"),
            summary=_("Scans the host with indicators of compromise; can isolate the host or remove what it finds."),
            fields=(
                Field(
                    "ioc",
                    IOC_ZIP,
                    _("IOC archive"),
                    _(
                        "A ZIP archive of OpenIOC 1.0/1.1 files (.ioc or .xml, at most 2 MiB each, 10 MiB in all, "
                        "unique ids), base64-encoded; a path to the archive when KSC_IOC_FORMAT=path."
                    ),
                ),
                Field(
                    "isolateHost",
                    BOOL,
                    _("Isolate host on detection"),
                    _("Isolate the host from the network when an IOC is found."),
                ),
                Field(
                    "scanCriticalAreas",
                    BOOL,
                    _("Scan critical areas on detection"),
                    _("Run a critical areas scan when an IOC is found."),
                ),
                Field(
                    "quarantineObject",
                    BOOL,
                    _("Remove detected objects"),
                    _("Delete the malicious object when an IOC is found; a backup copy goes to quarantine."),
                ),
            ),
            approval=DEPENDS_ON_PARAMS,
            approval_when=("isolateHost", "quarantineObject"),
            describe=lambda p: (
                str(_("Scan for IOCs%(then)s")) % {"then": _ioc_then(p)}
            ),
        ),
        TaskType(
            name="startProcess",
            label=_("Start process"),
            summary=_("Starts a program on the host."),
            fields=(
                Field(
                    "executablePath",
                    PATH,
                    _("Executable path"),
                    _("Path of the executable to start."),
                ),
                Field(
                    "arguments",
                    STRING,
                    _("Arguments"),
                    _("Command-line arguments (optional)."),
                    required=False,
                    allow_empty=True,
                ),
                Field(
                    "workingFolder",
                    PATH,
                    _("Working folder"),
                    _("The process's working folder (optional)."),
                    required=False,
                    allow_empty=True,
                ),
            ),
            approval=ALWAYS,
            describe=lambda p: (
                str(_("Start %(exe)s %(args)s")) % {"exe": p["executablePath"], "args": p.get("arguments", "")}
            ),
            # Arguments ("net use ... /user:x password") and the working folder stay on the portal.
            describe_in_message=_start_process_in_message,
        ),
        _file_task(
            "terminateProcess",
            _("Terminate process"),
            _("Ends a running process on the host."),
            _("Path of the process's executable file."),
            _("End the process of %(file)s"),
            approval=ALWAYS,
            extra=(
                Field(
                    "caseSensitive",
                    BOOL,
                    _("Case-sensitive"),
                    _("Match the file name case-sensitively."),
                ),
            ),
        ),
        TaskType(
            name="isolateHost",
            label=_("Network isolation"),
            summary=_("Cuts the host off the network (or releases it); it stays reachable by KSC only."),
            fields=(
                Field(
                    "action",
                    CHOICE,
                    _("Action"),
                    _("1 turns network isolation on, 0 turns it off."),
                    choices=ISOLATION_ACTIONS,
                ),
            ),
            approval=ALWAYS,
            undo=lambda p: {"action": 0} if p.get("action") == 1 else None,  # isolating is undone by releasing
            subject_label=lambda p: _("Network isolation") if p.get("action") == 1 else _("Release of network isolation"),
            describe=lambda p: str(
                _("Isolate the host from the network")
                if p["action"] == 1
                else _("Release the host's network isolation")
            ),
        ),
        TaskType(
            name="preventExecution",
            label=_("Prevent execution"),
            summary=_("Blocks a file from running on the host."),
            fields=(
                Field("hash", MD5, _("MD5 hash"), _("The file's MD5 hash (32 hexadecimal digits).")),
                Field(
                    "path",
                    PATH,
                    _("File path"),
                    _("Path of the file (may be empty)."),
                    default="",
                    allow_empty=True,
                ),
                Field(
                    "caseSensitive",
                    BOOL,
                    _("Case-sensitive"),
                    _("Match the file name case-sensitively."),
                ),
            ),
            approval=ALWAYS,
            caveat=_(
                "Prevent execution does nothing unless Execution Prevention is on in the KES policy "
                "(Detection and Response > Endpoint Detection and Response)."
            ),
            describe=lambda p: (
                str(_("Block the file md5 %(hash)s %(path)s from running"))
                % {"hash": p["hash"], "path": p.get("path", "")}
            ),
        ),
        TaskType(
            name="onDemandScan",
            label=_("Malware scan"),
            summary=_("Scans the host for malware; the host is not changed by the request itself."),
            fields=(
                Field("enabled", BOOL, _("Enabled"), _("Scan this object.")),
                Field(
                    "path",
                    STRING,
                    _("Path"),
                    _("Empty, or a space-separated list of files and folders to scan; required for Folder."),
                    allow_empty=True,
                ),
                Field("recursive", BOOL, _("Recursive"), _("Scan subfolders too.")),
                Field("type", CHOICE, _("Scan object"), _("What to scan."), choices=SCAN_OBJECT_TYPES),
            ),
            approval=NEVER,
            describe=lambda p: (
                str(_("Scan for malware: %(objects)s"))
                % {
                    "objects": ", ".join(
                        f"{SCAN_OBJECT_TYPES[o['type']]}{' ' + o['path'] if o['path'] else ''}"
                        for o in p
                        if o["enabled"]
                    )
                    or str(_("nothing enabled"))
                }
            ),
            list_params=True,
        ),
    )
}

TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: Any) -> TaskType:
    if not isinstance(name, str) or name not in TASKS:
        raise ParamErrors({"task": [str(_("Unknown task type; use one of: %s.")) % ", ".join(TASK_NAMES)]})
    return TASKS[name]


def field_kind(spec: Field) -> str:
    """The field's kind as the portal takes it now: iocScan's ioc is a path when KSC_IOC_FORMAT=path.

    Kaspersky's document calls ioc both "the path of the ZIP archive" and "the zip archive in
    base64"; the operator chooses what their KES accepts (docs/ksc-wire.md, section 1).
    """
    if spec.kind == IOC_ZIP and getattr(settings, "KSC_IOC_FORMAT", "zip-base64") == "path":
        return PATH
    return spec.kind


def _control_chars(value: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in value)


def refuse_invisible(field: str, value: str) -> None:
    """ValueError naming the field and the character when ``value`` holds an invisible one."""
    ch = invisible_char(value)
    if ch is not None:
        raise ValueError(
            _("%(field)s must not contain invisible or direction-changing characters (%(char)s).")
            % {"field": field, "char": char_name(ch)}
        )


def _zip_entry_count(data: bytes) -> int | None:
    """The entry count the archive's end record claims, read before any parsing (None: not found)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if end < 0 or end + 12 > len(data):
        return None
    return int.from_bytes(data[end + 10 : end + 12], "little")


def _zip_entry_signatures(data: bytes) -> int:
    """How many central-directory entry signatures the bytes hold: an upper bound of the entries,
    whatever the end record claims (an end record saying 1, or ZIP64's 0xFFFF, may sit after 100 000)."""
    return data.count(b"PK\x01\x02")


def ioc_archive_summary(value: str) -> dict[str, Any]:
    """An IOC archive as lists show it: its size and SHA-256, never the archive itself."""
    data = base64.b64decode(value)
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def archive_file_name(raw: Any) -> str:
    """An uploaded archive's file name as the portal keeps and shows it; "" when nothing is left.

    The browser's word, so: the base name only (no folders, whichever slash), no control or
    invisible characters (a right-to-left override would make "zip.exe" read "exe.piz"),
    at most MAX_ARCHIVE_NAME characters with the extension kept. Pages escape it as any text.
    """
    if not isinstance(raw, str):
        return ""
    name = re.split(r"[/\\]", raw)[-1]
    name = "".join(
        ch
        for ch in name
        if unicodedata.category(ch) != "Cc" and ch not in INVISIBLE_FILLERS
        and unicodedata.category(ch) not in INVISIBLE_CATEGORIES
    ).strip()
    if name in (".", ".."):
        return ""
    if len(name) > MAX_ARCHIVE_NAME:
        stem, dot, extension = name.rpartition(".")
        extension = dot + extension if stem and len(extension) <= 10 else ""
        name = name[: MAX_ARCHIVE_NAME - 1 - len(extension)].rstrip() + "…" + extension
    return name


def params_for_listing(task_name: str, params: Any) -> Any:
    """Params with each IOC archive replaced by its size and SHA-256 (API lists, CSV)."""
    task = TASKS.get(task_name)
    if task is None or not isinstance(params, dict):
        return params
    archives = {spec.name for spec in task.fields if spec.kind == IOC_ZIP}
    return {
        key: ioc_archive_summary(value) if key in archives and isinstance(value, str) else value
        for key, value in params.items()
    }


def _clean_ioc(name: str, value: str) -> str:
    # base64 of 10 MiB is at most 4 * ceil(10 MiB / 3) characters: refuse larger before decoding.
    if len(value) > 4 * ((MAX_IOC_ZIP_BYTES + 2) // 3):
        raise ValueError(_("%(field)s is larger than 10 MiB.") % {"field": name})
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(_("%(field)s must be base64-encoded.") % {"field": name}) from None
    if len(data) > MAX_IOC_ZIP_BYTES:
        raise ValueError(_("%(field)s is larger than 10 MiB.") % {"field": name})
    too_many = _("%(field)s holds more than %(max)d entries.") % {"field": name, "max": MAX_IOC_ENTRIES}
    # Before zipfile reads every entry of the central directory: the signatures first (the end record's
    # count is the archive's word), then the end record's claim.
    if _zip_entry_signatures(data) > MAX_IOC_ENTRIES:
        raise ValueError(too_many)
    claimed = _zip_entry_count(data)
    if claimed is not None and MAX_IOC_ENTRIES < claimed < 0xFFFF:  # 0xFFFF: a ZIP64 archive counts elsewhere
        raise ValueError(too_many)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if len(archive.infolist()) > MAX_IOC_ENTRIES:
                raise ValueError(too_many)
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members:
                raise ValueError(_("%(field)s is an empty ZIP archive.") % {"field": name})
            if sum(info.file_size for info in members) > MAX_IOC_UNPACKED_BYTES:
                raise ValueError(_("%(field)s unpacks to more than 100 MiB.") % {"field": name})
            if archive.testzip() is not None:
                raise ValueError(_("%(field)s is a damaged ZIP archive.") % {"field": name})
            _check_openioc(name, archive, members)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, RuntimeError):
        raise ValueError(_("%(field)s is not a readable ZIP archive.") % {"field": name}) from None
    return value


# KES reads OpenIOC 1.0 and 1.1 documents (docs/ksc-wire.md, section 1): these are their namespaces.
OPENIOC_NAMESPACES = ("http://schemas.mandiant.com/2010/ioc", "http://openioc.org/schemas/OpenIOC_1.1")
MAX_IOC_FILE_BYTES = 2 * 1024 * 1024
MAX_IOC_FILES_BYTES = 10 * 1024 * 1024


def _check_openioc(name: str, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    """Each file an OpenIOC 1.0/1.1 document (.ioc or .xml, at most 2 MiB), 10 MiB in all, ids unique."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    if sum(info.file_size for info in members) > MAX_IOC_FILES_BYTES:
        raise ValueError(_("%(field)s: the IOC files add up to more than 10 MiB.") % {"field": name})
    seen: dict[str, str] = {}
    for info in members:
        where = {"field": name, "file": info.filename}
        if not info.filename.lower().endswith((".ioc", ".xml")):
            raise ValueError(_("%(field)s: %(file)s is not an OpenIOC file (.ioc or .xml).") % where)
        if info.file_size > MAX_IOC_FILE_BYTES:
            raise ValueError(_("%(field)s: %(file)s is larger than 2 MiB.") % where)
        data = archive.read(info)
        # No document type declarations: entities are not part of OpenIOC, and they can blow up a parser.
        # The parser reports one in whatever encoding the file is written (UTF-16 hides it from a byte
        # search), and refuses entities and external references as well (defusedxml).
        try:
            root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException:
            raise ValueError(_("%(field)s: %(file)s declares a DOCTYPE or entities.") % where) from None
        except (ParseError, ValueError, LookupError):
            raise ValueError(_("%(field)s: %(file)s is not well-formed XML.") % where) from None
        namespace, _sep, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
        if local != "ioc" or namespace not in OPENIOC_NAMESPACES:
            raise ValueError(_("%(field)s: %(file)s is not an OpenIOC 1.0 or 1.1 document.") % where)
        ioc_id = (root.get("id") or "").strip()
        if not ioc_id:
            raise ValueError(_("%(field)s: %(file)s has no id.") % where)
        if ioc_id in seen:
            raise ValueError(_("%(field)s: %(file)s has the same id as %(other)s.") % {**where, "other": seen[ioc_id]})
        seen[ioc_id] = info.filename


def clean_value(spec: Field, value: Any) -> Any:
    """One field's value, normalised; ValueError with a message naming the field."""
    name = spec.name
    if spec.kind == BOOL:
        if type(value) is not bool:
            raise ValueError(_("%(field)s must be true or false.") % {"field": name})
        return value
    if spec.kind == CHOICE:
        if type(value) is not int or value not in spec.choices:
            allowed = ", ".join(str(key) for key in sorted(spec.choices))
            raise ValueError(_("%(field)s must be one of %(allowed)s.") % {"field": name, "allowed": allowed})
        return value
    if not isinstance(value, str):
        raise ValueError(_("%(field)s must be a string.") % {"field": name})
    if _control_chars(value):
        raise ValueError(_("%(field)s must not contain control characters.") % {"field": name})
    refuse_invisible(name, value)
    if value.strip() == "":
        if not spec.allow_empty:
            raise ValueError(_("%(field)s is required and must not be empty.") % {"field": name})
        return ""
    if spec.kind == MD5:
        if not _MD5.fullmatch(value):
            raise ValueError(_("%(field)s must be an MD5 hash: 32 hexadecimal digits.") % {"field": name})
        return value.lower()
    if spec.kind == SHA256:
        if not _SHA256.fullmatch(value):
            raise ValueError(_("%(field)s must be a SHA-256 hash: 64 hexadecimal digits.") % {"field": name})
        return value.lower()
    if field_kind(spec) == IOC_ZIP:
        return _clean_ioc(name, value)
    if len(value) > MAX_STRING:
        raise ValueError(_("%(field)s is longer than %(max)d characters.") % {"field": name, "max": MAX_STRING})
    return value


def _clean_object(task: TaskType, raw: Any, prefix: str) -> tuple[dict, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return {}, {prefix: [str(_("Expected a JSON object of the task's fields."))]}
    known = {spec.name for spec in task.fields}
    for key in raw:
        if key not in known:
            errors[f"{prefix}{key}"] = [
                str(_("Unknown field %(field)s; %(task)s takes: %(known)s."))
                % {"field": key, "task": task.name, "known": ", ".join(spec.name for spec in task.fields)}
            ]
    cleaned: dict[str, Any] = {}
    for spec in task.fields:
        if spec.name not in raw:
            if spec.default is not None:
                cleaned[spec.name] = spec.default
            elif spec.required:
                errors[f"{prefix}{spec.name}"] = [str(_("%(field)s is required.") % {"field": spec.name})]
            continue
        try:
            value = clean_value(spec, raw[spec.name])
        except ValueError as exc:
            errors[f"{prefix}{spec.name}"] = [str(exc)]
            continue
        if not spec.required and value == "":
            continue  # an empty optional string is as if never given
        cleaned[spec.name] = value
    if not errors:
        for check in task.checks:
            for key, messages in check(cleaned).items():
                errors.setdefault(f"{prefix}{key}" if key else prefix, []).extend(messages)
    return cleaned, errors


def _check_scan_object(obj: dict, prefix: str) -> dict[str, list[str]]:
    if obj["type"] == SCAN_TYPE_FOLDER and not obj["path"]:
        return {f"{prefix}path": [str(_("path is required when the scan object is a Folder (22)."))]}
    return {}


def clean_params(task_name: Any, raw: Any) -> Any:
    """Validate and normalise a task's params; raises ParamErrors naming each bad field."""
    task = get_task(task_name)
    if task.list_params:
        if not isinstance(raw, list):
            raise ParamErrors({"": [str(_("onDemandScan takes a JSON array of scan objects."))]})
        if not raw:
            raise ParamErrors({"": [str(_("Give at least one scan object."))]})
        if len(raw) > MAX_SCAN_OBJECTS:
            raise ParamErrors({"": [str(_("Give at most %d scan objects.")) % MAX_SCAN_OBJECTS]})
        cleaned_list, errors = [], {}
        for index, item in enumerate(raw):
            cleaned, item_errors = _clean_object(task, item, f"[{index}].")
            if not item_errors:
                item_errors = _check_scan_object(cleaned, f"[{index}].")
            errors.update({key.rstrip("."): msgs for key, msgs in item_errors.items()})
            cleaned_list.append(cleaned)
        if errors:
            raise ParamErrors(errors)
        return cleaned_list
    cleaned, errors = _clean_object(task, raw, "")
    if errors:
        raise ParamErrors(errors)
    return cleaned


def clean_target_host(value: Any) -> str:
    """The KSC internal host id (KLHST_WKS_HOSTNAME); ValueError with a message."""
    if not isinstance(value, str) or value.strip() == "":
        raise ValueError(_("target host is required: the KSC host id (KLHST_WKS_HOSTNAME)."))
    if _control_chars(value):
        raise ValueError(_("target host must not contain control characters."))
    refuse_invisible(str(_("target host")), value)
    if value != value.strip():
        raise ValueError(_("target host must not start or end with spaces."))
    if len(value) > MAX_HOST_ID:
        raise ValueError(_("target host is longer than %d characters.") % MAX_HOST_ID)
    return value


def approvals_required(task_name: str, params: Any) -> int:
    """How many approvers, besides the requester, a request of this task needs.

    APPROVALS_REQUIRED_<TASK> overrides it for every request of the task type;
    otherwise APPROVALS_REQUIRED for requests that change the endpoint, 0 for the rest.
    """
    from django.conf import settings

    task = get_task(task_name)
    count = per_task(settings.APPROVALS_REQUIRED_BY_TASK, task.name)
    if count is not None:
        return count
    return settings.APPROVALS_REQUIRED if task.changes_endpoint(params) else 0


def per_task(values: dict[str, int], task_name: str, default: int | None = None) -> int | None:
    """A per-task setting's value for ``task_name`` (APPROVALS_REQUIRED_<TASK>, APPROVAL_SLA_<TASK>).

    The settings key them by the variable's suffix (``ISOLATEHOST``): matched without regard to case.
    """
    wanted = task_name.lower()
    for key, value in values.items():
        if key.lower() == wanted:
            return value
    return default


def unknown_task_keys(values: dict[str, int]) -> list[str]:
    """The keys of a per-task setting that name no task type (responses/checks.py refuses them)."""
    known = {name.lower() for name in TASK_NAMES}
    return sorted(key for key in values if key.lower() not in known)


def approval_policy(task_name: str) -> tuple[str, int]:
    """Whether requests of a task type need approval (ALWAYS, NEVER, DEPENDS_ON_PARAMS), and from how many.

    The same rule as approvals_required(), told without params (for the API's catalog).
    The count is that of approvers a request needs when it needs approval at all.
    """
    from django.conf import settings

    task = get_task(task_name)
    count = per_task(settings.APPROVALS_REQUIRED_BY_TASK, task.name)
    if count is not None:
        return (ALWAYS if count else NEVER), count
    count = settings.APPROVALS_REQUIRED
    if task.approval == NEVER or not count:
        return NEVER, 0
    return task.approval, count


def _field_schema(spec: Field) -> dict:
    schema: dict[str, Any] = {"description": str(spec.help_text)}
    if spec.kind == BOOL:
        schema["type"] = "boolean"
    elif spec.kind == CHOICE:
        schema.update(type="integer", enum=sorted(spec.choices))
    else:
        schema["type"] = "string"
        if spec.kind == MD5:
            schema["pattern"] = "^[0-9a-fA-F]{32}$" if not spec.allow_empty else "^([0-9a-fA-F]{32})?$"
        elif spec.kind == SHA256:
            schema["pattern"] = "^([0-9a-fA-F]{64})?$"
        elif field_kind(spec) == IOC_ZIP:
            schema.update(contentEncoding="base64", contentMediaType="application/zip")
        else:
            schema["maxLength"] = MAX_STRING
        if not spec.allow_empty:
            schema["minLength"] = 1
    return schema


def params_json_schema(task_name: str) -> dict:
    """The JSON Schema of a task's params, derived from its fields (for the API's catalog)."""
    task = get_task(task_name)
    obj = {
        "type": "object",
        "properties": {spec.name: _field_schema(spec) for spec in task.fields},
        "required": [spec.name for spec in task.fields if spec.must_be_given],
        "additionalProperties": False,
    }
    if task.list_params:
        return {"type": "array", "items": obj, "minItems": 1, "maxItems": MAX_SCAN_OBJECTS}
    return obj

#!/usr/bin/env python3
"""File an EDR Threat Response request with the portal, from a KUMA response rule (or any SIEM).

Takes the arguments of Kaspersky's EDR sample scripts (the task, the target
host, the params as JSON) but, instead of calling KSC directly, files the
request through the portal's API, so that it passes the portal's approvals.
Python 3.8+ standard library only: copy this one file next to KUMA's correlator.

    PORTAL_URL=https://edr.example.com PORTAL_TOKEN_FILE=/opt/kaspersky/kuma/portal-token \\
    kuma_response.py --task isolateHost --targetHost 5f0c... --params '{"action": 1}' \\
        --justification "KUMA: ransomware beacon from PAYROLL-01" --external-ref "KUMA-4711"

Environment:
  PORTAL_URL          the portal's base URL, https://... (http only to this machine itself)
  PORTAL_TOKEN        an API token (manage.py create_api_token <user>), or
  PORTAL_TOKEN_FILE   a file holding it (keeps it out of the process list and the rule)
  PORTAL_CAFILE       optional: the CA certificate(s) to verify the portal with (or --cafile)

Prints "<request id> <status>" (e.g. "7d6245ad-... pending_approval") and exits 0
once the portal has the request. On failure prints the portal's message on
stderr and exits: 2 input refused (usage, --params, the portal's 400/422),
3 not allowed (bad token 401, no permission 403), 4 portal unreachable or
failing (after --retries) or over its filing rate limit (429), 1 anything else.

Retries are safe: every call carries an Idempotency-Key, so a retried call can
never file twice. With --external-ref the key is derived from the alert (task,
host, params and reference), so a rule that fires again for the same alert
within 24 hours gets the first request back instead of a second one.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

EXIT_OTHER, EXIT_INPUT, EXIT_NOT_ALLOWED, EXIT_UNAVAILABLE = 1, 2, 3, 4
USER_AGENT = "edr-portal-kuma-response/1"


class Failure(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="File an EDR Threat Response request through the portal's API (and its approvals).",
        epilog="Environment: PORTAL_URL, PORTAL_TOKEN or PORTAL_TOKEN_FILE, optional PORTAL_CAFILE.",
    )
    parser.add_argument(
        "--task",
        required=True,
        help="getFile, deleteFile, quarantineFile, iocScan, startProcess, "
        "terminateProcess, isolateHost, preventExecution or onDemandScan",
    )
    parser.add_argument("--targetHost", required=True, help="the KSC host id (KLHST_WKS_HOSTNAME) from the event")
    parser.add_argument("--params", default="{}", help="the task's params as JSON (default: {})")
    parser.add_argument("--justification", required=True, help="why, for the approvers (e.g. the alert's text)")
    parser.add_argument("--external-ref", default="", help="the alert's id in the SIEM, kept with the request")
    parser.add_argument("--cafile", default=os.environ.get("PORTAL_CAFILE") or None, help="CA file for the portal")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call (default 30)")
    parser.add_argument("--retries", type=int, default=3, help="retries when the portal is unreachable (default 3)")
    # Kaspersky's sample scripts set this themselves; the portal sets it from its own setting.
    parser.add_argument("--responseEventIncidentArea", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def read_token() -> str:
    token, token_file = os.environ.get("PORTAL_TOKEN", ""), os.environ.get("PORTAL_TOKEN_FILE", "")
    if token and token_file:
        raise Failure("Set PORTAL_TOKEN or PORTAL_TOKEN_FILE, not both.", EXIT_INPUT)
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise Failure(f"PORTAL_TOKEN_FILE: cannot read {token_file}: {exc.strerror}", EXIT_INPUT) from None
    if not token:
        raise Failure(
            "Set PORTAL_TOKEN (or PORTAL_TOKEN_FILE): an API token from manage.py create_api_token.", EXIT_INPUT
        )
    return token


def portal_url() -> str:
    url = os.environ.get("PORTAL_URL", "").rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Failure("Set PORTAL_URL to the portal's address, e.g. https://edr.example.com", EXIT_INPUT)
    if parts.scheme == "http" and not _loopback(parts.hostname):
        # The token would cross the network in clear text.
        raise Failure(f"PORTAL_URL must use https:// (http only to this machine itself): {url}", EXIT_INPUT)
    return url


def _loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def idempotency_key(args: argparse.Namespace, params: object) -> str:
    if not args.external_ref:
        return str(uuid.uuid4())  # still makes this run's own retries safe
    alert = json.dumps([args.task, args.targetHost, params, args.external_ref], sort_keys=True)
    return "kuma-" + hashlib.sha256(alert.encode("utf-8")).hexdigest()


def _message(status: int, raw: bytes) -> str:
    try:
        answer = json.loads(raw.decode("utf-8"))
        detail = answer.get("detail") if isinstance(answer, dict) else None
    except (UnicodeDecodeError, ValueError):
        detail = None
    if not detail:
        detail = raw.decode("utf-8", "replace").strip()[:300] or "no message"
    return f"the portal answered {status}: {detail}"


def file_request(args: argparse.Namespace) -> dict:
    try:
        params = json.loads(args.params)
    except ValueError as exc:
        raise Failure(f"--params is not valid JSON: {exc}", EXIT_INPUT) from None
    url, token = portal_url(), read_token()
    body = {
        "task": args.task,
        "target_host": args.targetHost,
        "params": params,
        "justification": args.justification,
        "external_ref": args.external_ref,
    }
    request = urllib.request.Request(
        f"{url}/api/v1/requests/",
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key(args, params),
            "User-Agent": USER_AGENT,
        },
    )
    try:
        context = ssl.create_default_context(cafile=args.cafile) if url.startswith("https:") else None
    except OSError as exc:
        raise Failure(f"--cafile: cannot read {args.cafile}: {exc.strerror or exc}", EXIT_INPUT) from None
    last = Failure(f"cannot reach the portal at {url}", EXIT_UNAVAILABLE)
    for attempt in range(max(args.retries, 0) + 1):
        if attempt:
            time.sleep(min(2 ** (attempt - 1), 30))
        try:
            with urllib.request.urlopen(request, timeout=args.timeout, context=context) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            message = _message(exc.code, exc.read())
            if exc.code in (400, 422):
                raise Failure(message, EXIT_INPUT) from None
            if exc.code in (401, 403):
                raise Failure(message, EXIT_NOT_ALLOWED) from None
            if exc.code == 429:
                # Over the portal's filing rate limit: retrying now would not help; the message says when.
                raise Failure(message, EXIT_UNAVAILABLE) from None
            if exc.code < 500:
                raise Failure(message, EXIT_OTHER) from None
            last = Failure(message, EXIT_UNAVAILABLE)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError):
                # A certificate problem does not go away by retrying.
                raise Failure(
                    f"TLS with {url} failed: {reason} (give the portal's CA with --cafile or PORTAL_CAFILE)",
                    EXIT_UNAVAILABLE,
                ) from None
            last = Failure(f"cannot reach the portal at {url}: {reason}", EXIT_UNAVAILABLE)
        except ValueError:
            raise Failure("the portal's answer is not JSON; is PORTAL_URL the portal?", EXIT_OTHER) from None
    raise last


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    try:
        filed = file_request(args)
    except Failure as exc:
        print(f"kuma_response: {exc}", file=sys.stderr)
        return exc.code
    print(f"{filed['id']} {filed['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

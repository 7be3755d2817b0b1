#!/usr/bin/env python3
"""File ONE campaign for every host of a KUMA correlation event (or any SIEM alert about many hosts).

Where kuma_response.py files one request per host, this files one campaign: one approval for the
set, canary first, waves after it, a circuit breaker, protected hosts left out (README, "Campaigns").
Python 3.8+ standard library only: copy it next to KUMA's correlator with kuma_response.py.

    PORTAL_URL=https://edr.example.com PORTAL_TOKEN_FILE=/opt/kaspersky/kuma/portal-token \\
    kuma_campaign.py --task isolateHost --params '{"action": 1}' \\
        --hosts "PAYROLL-01,PAYROLL-02,10.20.1.17" --justification "KUMA: Emotet spreading" --external-ref KUMA-4711

Hosts: --hosts (comma, space or newline separated: names, FQDNs, IPv4 addresses or KSC host ids),
or --hosts-file (one per line; "-" reads standard input), and/or --group (a KSC administration
group's path, e.g. "Managed devices/Servers"; --subgroups takes the groups below it too). Environment as kuma_response.py:
PORTAL_URL, PORTAL_TOKEN or PORTAL_TOKEN_FILE, optional PORTAL_CAFILE.

Prints "<campaign id> <status> <hosts> <approvals needed>" and exits 0 once the portal has the
campaign; hosts the portal could not resolve or left out as protected go to stderr. Exit codes:
2 input refused (usage, --params, the portal's 400/422), 3 not allowed (401/403), 4 portal
unreachable or failing (after --retries) or rate limited (429), 1 anything else. Every call carries
an Idempotency-Key derived from the alert when --external-ref is given, so a rule that fires again
for the same event within 24 hours gets the first campaign back instead of a second one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

EXIT_OTHER, EXIT_INPUT, EXIT_NOT_ALLOWED, EXIT_UNAVAILABLE = 1, 2, 3, 4
USER_AGENT = "edr-portal-kuma-campaign/1"


class Failure(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="File one EDR response campaign for many hosts through the portal.")
    parser.add_argument("--task", required=True, help="the task every host gets, e.g. isolateHost")
    parser.add_argument("--params", default="{}", help="the task's params as JSON (default: {})")
    parser.add_argument("--hosts", default="", help="hosts, comma/space/newline separated")
    parser.add_argument("--hosts-file", default="", help="a file with one host per line ('-': standard input)")
    parser.add_argument("--group", default="", help='a KSC administration group, e.g. "Managed devices/Servers"')
    parser.add_argument("--subgroups", action="store_true", help="with --group: the groups below it too")
    parser.add_argument("--justification", required=True, help="why, for the approvers")
    parser.add_argument("--external-ref", default="", help="the correlation event's id in the SIEM")
    parser.add_argument("--server", default="", help="the KSC server's name in the portal (default: primary)")
    parser.add_argument("--cafile", default=os.environ.get("PORTAL_CAFILE") or None)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default 60)")
    parser.add_argument("--retries", type=int, default=3)
    return parser.parse_args(argv)


def host_list(args) -> list:
    text = args.hosts
    if args.hosts_file:
        try:
            if args.hosts_file == "-":
                text += "\n" + sys.stdin.read()
            else:
                with open(args.hosts_file, encoding="utf-8") as handle:
                    text += "\n" + handle.read()
        except OSError as exc:
            raise Failure(f"--hosts-file: cannot read {args.hosts_file}: {exc.strerror}", EXIT_INPUT) from None
    hosts = [part for part in re.split(r"[\s,;]+", text) if part]
    if not hosts and not args.group:
        raise Failure("Name the hosts with --hosts, --hosts-file or --group.", EXIT_INPUT)
    return list(dict.fromkeys(hosts))  # the event's order, each once


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
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise Failure(f"PORTAL_URL must use https:// (http only to this machine itself): {url}", EXIT_INPUT)
    return url


def idempotency_key(args, params, hosts) -> str:
    if not args.external_ref:
        return str(uuid.uuid4())
    alert = json.dumps([args.task, params, sorted(hosts), args.group, args.subgroups, args.external_ref], sort_keys=True)
    return "kuma-campaign-" + hashlib.sha256(alert.encode("utf-8")).hexdigest()


def _message(status: int, raw: bytes) -> str:
    try:
        answer = json.loads(raw.decode("utf-8"))
        detail = answer.get("detail") if isinstance(answer, dict) else None
    except (UnicodeDecodeError, ValueError):
        detail = None
    return f"the portal answered {status}: {detail or raw.decode('utf-8', 'replace').strip()[:300] or 'no message'}"


def file_campaign(args) -> dict:
    try:
        params = json.loads(args.params)
    except ValueError as exc:
        raise Failure(f"--params is not valid JSON: {exc}", EXIT_INPUT) from None
    hosts = host_list(args)
    url, token = portal_url(), read_token()
    body = {"task": args.task, "params": params, "hosts": hosts, "justification": args.justification}
    if args.external_ref:
        body["external_ref"] = args.external_ref
    if args.server:
        body["server"] = args.server
    if args.group:
        body["group"] = args.group
        body["subgroups"] = bool(args.subgroups)
    request = urllib.request.Request(
        f"{url}/api/v1/campaigns/",
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key(args, params, hosts),
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
                raise Failure(message, EXIT_UNAVAILABLE) from None
            if exc.code < 500:
                raise Failure(message, EXIT_OTHER) from None
            last = Failure(message, EXIT_UNAVAILABLE)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLError):
                raise Failure(
                    f"TLS with {url} failed: {reason} (give the portal's CA with --cafile)", EXIT_UNAVAILABLE
                ) from None
            last = Failure(f"cannot reach the portal at {url}: {reason}", EXIT_UNAVAILABLE)
        except ValueError:
            raise Failure("the portal's answer is not JSON; is PORTAL_URL the portal?", EXIT_OTHER) from None
    raise last


def main(argv=None) -> int:
    args = parse_arguments(argv)
    try:
        filed = file_campaign(args)
    except Failure as exc:
        print(f"kuma_campaign: {exc}", file=sys.stderr)
        return exc.code
    hosts = filed.get("hosts", {})
    for line in hosts.get("unresolved", []):
        print(f"kuma_campaign: not resolved: {line.get('line')}: {line.get('reason')}", file=sys.stderr)
    for host in hosts.get("excluded", []):
        print(f"kuma_campaign: left out: {host.get('name') or host.get('host')}: {host.get('reason')}", file=sys.stderr)
    print(f"{filed.get('id')} {filed.get('status')} {hosts.get('total')} {filed.get('approvals_required')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

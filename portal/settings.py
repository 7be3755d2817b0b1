"""Settings of the EDR response portal: every value comes from the environment.

See README.md for the table of variables. Readers in portal/env.py refuse junk
with ImproperlyConfigured, naming the variable.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    parse_database_url,
    parse_sentinels,
    redis_connection_config,
)
from responses.catalog import TASK_NAMES

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", secret=True)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off.")
    # Only for a developer's own machine: DEBUG is on, nothing here is production.
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on-do-not-deploy"

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
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from here: SOC networks are often offline
    "responses",
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
    "responses.twofactor.TwoFactorMiddleware",  # nothing else until the second factor is done (or set up)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
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
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # AccessFailureLog: every failure and whether it locked, for auditors
AXES_LOCKOUT_CALLABLE = "responses.accounts.locked_out"
# Masked in what django-axes stores and logs (it masks "password" itself).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code", "stepup_code", "stepup_password", "csrfmiddlewaretoken"]

# --- Two-factor authentication (django-otp; responses/twofactor.py) and step-up (responses/stepup.py) ---
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "EDR response portal")  # the account's name in authenticator apps
STEP_UP_SECONDS = env_int("STEP_UP_SECONDS", 10 * 60, minimum=30)  # a decision needs a proof of identity this fresh

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
    "default": {**REDIS_CONNECTION, "DEFAULT_TIMEOUT": 300},
    "ksc": {**REDIS_CONNECTION, "DEFAULT_TIMEOUT": 300},
}
RQ_SHOW_ADMIN_LINK = False
# A worker that runs jobs in its own process, so that one KSC session serves every job.
RQ = {"WORKER_CLASS": "responses.jobs.PortalWorker"}
KSC_SUBMIT_TRIES = env_int("KSC_SUBMIT_TRIES", 5, minimum=1, maximum=50)  # tries when KSC is unreachable
KSC_SUBMIT_BACKOFF = env_int("KSC_SUBMIT_BACKOFF", 30, minimum=0)  # seconds before the 2nd try, doubling
RECONCILE_INTERVAL = env_int("RECONCILE_INTERVAL", 60, minimum=5)  # seconds between reconciler runs
WORKER_HEARTBEAT_TTL = env_int("WORKER_HEARTBEAT_TTL", 60, minimum=1)  # a killed worker counts as dead after this
RECONCILE_GRACE = env_int("RECONCILE_GRACE", 30, minimum=0)  # a request this fresh is left to its job

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
KSC_CLIENT = env_choice("KSC_CLIENT", "auto", ("auto", "klakoapi", "builtin"))
KSC_CONNECT_TIMEOUT = env_float("KSC_CONNECT_TIMEOUT", 10.0, minimum=0.1)
KSC_READ_TIMEOUT = env_float("KSC_READ_TIMEOUT", 60.0, minimum=0.1)
KSC_SIMULATED = env_bool("KSC_SIMULATED", False)  # set by `make run` when it starts the simulator
if KSC_HOST and not (KSC_USER and KSC_PASSWORD):
    raise ImproperlyConfigured("KSC_HOST is set: KSC_USER and KSC_PASSWORD (or KSC_PASSWORD_FILE) are required too.")

# --- The response workflow ---
RESPONSE_EVENT_INCIDENT_AREA = env_str("RESPONSE_EVENT_INCIDENT_AREA", "Kuma")
APPROVAL_TTL = env_int("APPROVAL_TTL", 24 * 3600, minimum=60)  # seconds a request may wait for approval
APPROVALS_REQUIRED = env_int("APPROVALS_REQUIRED", 1, minimum=0, maximum=10)
# Per-task override, e.g. APPROVALS_REQUIRED_ISOLATEHOST=2; applies to every request of that task type.
APPROVALS_REQUIRED_BY_TASK = {
    name: env_int(f"APPROVALS_REQUIRED_{name.upper()}", 0, minimum=0, maximum=10)
    for name in TASK_NAMES
    if env_str(f"APPROVALS_REQUIRED_{name.upper()}") is not None
}
_unknown_overrides = sorted(
    key
    for key in os.environ
    if key.startswith("APPROVALS_REQUIRED_")
    and key.removeprefix("APPROVALS_REQUIRED_").lower() not in {name.lower() for name in TASK_NAMES}
)
if _unknown_overrides:
    raise ImproperlyConfigured(
        f"{', '.join(_unknown_overrides)}: no such task type; use one of "
        + ", ".join(f"APPROVALS_REQUIRED_{name.upper()}" for name in TASK_NAMES)
    )

# --- The REST API (/api/v1/, responses/api/) ---
REST_FRAMEWORK = {
    # Tokens only: no session cookies, so no CSRF to worry about (the schema view adds sessions, read-only).
    "DEFAULT_AUTHENTICATION_CLASSES": ["responses.api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
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
        "responses.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"RequestStatus": "responses.models.Status"},
}

# Limits on the blast radius.
REQUEST_RATE_LIMIT = env_int("REQUEST_RATE_LIMIT", 30, minimum=0)  # requests one user may file per window; 0: none
REQUEST_RATE_WINDOW = env_int("REQUEST_RATE_WINDOW", 3600, minimum=60)  # seconds
KSC_SUBMIT_HOURLY_CAP = env_int("KSC_SUBMIT_HOURLY_CAP", 300, minimum=0)  # submissions to KSC per hour; 0: none
# KES keeps at most 100 response tasks per endpoint: approvers are warned above this many for one host.
HOST_TASKS_WARNING = env_int("HOST_TASKS_WARNING", 80, minimum=1)
HOST_TASKS_WINDOW = env_int("HOST_TASKS_WINDOW", 24 * 3600, minimum=60)  # how long a submitted task counts

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "responses": {"level": LOG_LEVEL},
        "portal": {"level": LOG_LEVEL},
        # urllib3 at DEBUG prints request lines; never let it print KSC headers.
        "urllib3": {"level": "WARNING"},
    },
}

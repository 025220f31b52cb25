# The two commands of the README: `make demo` and `make test`. Both build the environment first,
# as does `make docs` (the documentation site, into site/).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: demo test lint docs java clean

java:
	@if ! command -v java >/dev/null 2>&1 && ! [ -x "$$JAVA_HOME/bin/java" ]; then \
	  echo "Java was not found: Spark needs Java 17 or 21."; \
	  echo "Install it (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME."; \
	  exit 1; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: java $(STAMP)
	$(PY) conftest_examples/demo/run_demo.py

lint: $(STAMP)
	$(PY) -m ruff check pytest_dcs tests bench conftest_examples
	$(PY) -m ruff format --check pytest_dcs tests bench conftest_examples
	$(PY) -m mypy

# The real-Spark tests spend much of their time waiting on JVM start-up and executor
# registration, so two workers share the two cores well. Whole modules go to one worker
# (--dist loadfile): each module's project runs are module fixtures, started once.
test: java lint
	$(PY) -m pytest -n 2 --dist loadfile

# The test extra includes the docs extra, so the one environment also builds the site.
# mkdocs-material prints a banner about MkDocs 2.0 on every build; it is news, not a warning.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) site demo-out conftest_examples/demo/data conftest_examples/demo/dcs_samples

# The whole set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

# Debian packages the report and its browser and PDF tests need (Chromium, driven by Playwright, writes the
# PDF; poppler's pdftoppm; a CJK font for the Chinese report; Pango for weasyprint, the PDF engine used when
# Chromium is missing). Installed with apt-get when missing.
REPORT_PACKAGES := chromium libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei
SYSTEM_PACKAGES := $(REPORT_PACKAGES) poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test clean system-deps report-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN) report-deps
	$(BIN)/dldd demo --out out/demo

report-deps:
	@$(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES="$(REPORT_PACKAGES)"

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

test: $(STAMP_TEST) system-deps
	$(BIN)/python -m pytest -q

clean:
	rm -rf out .pytest_cache

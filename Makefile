# Bureau: `make run` starts bureaud with demo data and a development CA; `make test` runs every test.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT ?= swift
DATA ?= data
HOST ?= 127.0.0.1
PORT ?= 50051
BIN := .build/debug
PYTHON ?= python3
## The development key-encryption key, made by scripts/make-dev-certs beside the certificates.
export BUREAU_KEY_FILE ?= $(CURDIR)/certs/kek.key

.PHONY: run test test-deps build deps python-deps certs seed proto proto-check clean

## Installs what the build needs: LMDB's headers and library, the PKCS#11 headers (p11-kit), and openssl
## for the dev certificates.
deps:
	@missing=""; \
	dpkg -s liblmdb-dev >/dev/null 2>&1 || missing="$$missing liblmdb-dev"; \
	dpkg -s libp11-kit-dev >/dev/null 2>&1 || missing="$$missing libp11-kit-dev"; \
	dpkg -s libjemalloc-dev >/dev/null 2>&1 || missing="$$missing libjemalloc-dev"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## Python's grpcio and pytest, for the interop tests; selenium, for the console's browser tests.
python-deps:
	@$(PYTHON) -c "import grpc, grpc_tools, pytest, cryptography, selenium" 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check grpcio grpcio-tools pytest cryptography selenium || \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check --break-system-packages grpcio grpcio-tools pytest cryptography selenium

build: deps
	$(SWIFT) build

certs: deps
	@scripts/make-dev-certs certs

## Seeds demo institutions and files into $(DATA) once.
seed: build certs
	@if [ ! -d "$(DATA)/lmdb" ]; then $(BIN)/bureau demo seed --data $(DATA) --certs certs; \
	else echo "$(DATA) already holds a database; not seeding again"; fi

run: seed
	exec $(BIN)/bureaud --data $(DATA) --host $(HOST) --port $(PORT) \
	  --cert certs/server.pem --key certs/server.key --ca certs/ca.pem

## SoftHSM2, the PKCS#11 token the key tests initialise and use; PostgreSQL's server binaries, for the
## PostgreSQL suites (they make clusters of their own with initdb in scratch folders, never the system's);
## chromium and its driver, for the console's browser tests (headless).
test-deps:
	@missing=""; \
	dpkg -s softhsm2 >/dev/null 2>&1 || missing="$$missing softhsm2"; \
	dpkg -s chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	dpkg -s chromium-driver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	ls /usr/lib/postgresql/*/bin/pg_basebackup >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## The interop suite runs twice: on LMDB (all of it), then on a PostgreSQL store, in a throwaway cluster the suite
## makes and removes itself (BUREAU_TEST_POSTGRES=scratch, Tests/interop/conftest.py). On PostgreSQL: every test
## that goes through the store; not the console's browser pages (they read bureaud's API, which the rest covers)
## nor the transport's idle and keepalive timers (nothing of the store in them), which cost 15 s between them.
INTEROP_ON_POSTGRES := --ignore=Tests/interop/test_console.py -k "not idle_connection and not keepalive"

test: deps test-deps python-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(PYTHON) -m pytest -q Tests/interop
	BUREAU_TEST_POSTGRES=scratch $(PYTHON) -m pytest -q Tests/interop $(INTEROP_ON_POSTGRES)

## Regenerates Sources/BureauAPI from proto/ (needs protobuf-compiler; builds the plugins once).
proto:
	@command -v protoc >/dev/null || $(SUDO) apt-get install -y -qq protobuf-compiler
	scripts/generate-proto

proto-check:
	scripts/generate-proto --check

clean:
	rm -rf .build .build-plugins

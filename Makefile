# cnpg-guard — build, test and operate the shared-cluster contract guard.
# Targets follow the platform repo's style (apps-pg-deploy/-status/-logs).
CARGO     ?= cargo
KUBECTL   ?= kubectl
IMAGE     ?= ghcr.io/railiance/cnpg-guard:0.1.0
OVERLAY   ?= cert-manager
NAMESPACE := cnpg-guard
BIN       := target/release/cnpg-guard
KUSTOMIZE := $(KUBECTL) kustomize
# The contract check and audit judge against (the repository's, not the one
# built into the binary, which knows no consumer registered since).
CONTRACT  ?= deploy/base/contract.yaml
# Where `make certs` writes the self-signed overlay's key material (git-ignored).
CERTS_DIR := deploy/overlays/self-signed/certs
# The contract's breakGlass.groups, which deploy/base/self-protection.yaml
# lets change or remove the guard. Run deploy/undeploy as a member, e.g. with
#   make undeploy KUBECTL='kubectl --as=<you> --as-group=railiance:platform-admins'
BREAK_GLASS_GROUP := railiance:platform-admins

.DEFAULT_GOAL := help

help: ## List targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## Build the release binary
	$(CARGO) build --release --locked

run: ## Run the webhook locally (embedded contract, self-signed dev certificate, no cluster)
	$(CARGO) run --release --locked -- serve

test: ## Run all tests (rules, CLI, webhook over HTTPS, live facts against a mocked API)
	$(CARGO) test --locked --all-targets

envtest: ## Against a real kube-apiserver + etcd: KUBEBUILDER_ASSETS (setup-envtest), CNPG_CRDS, optional POLICYREPORT_CRDS; one skip line without them
	$(CARGO) test --locked --test envtest
.PHONY: envtest

PG_BIN ?=
pgtest: ## Against a real PostgreSQL set up as CloudNativePG sets up an instance: PG_BIN (e.g. /usr/lib/postgresql/15/bin); one skip line without it
	PG_BIN=$(PG_BIN) $(CARGO) test --locked --test pgtest
.PHONY: pgtest

lint: ## rustfmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

check: build ## Check the shipped example manifests (good must pass, bad must be denied)
	$(BIN) check --contract $(CONTRACT) deploy/examples/good
	@for d in deploy/examples/bad deploy/examples/bad-1.30; do \
	  if $(BIN) check --contract $(CONTRACT) $$d >/dev/null; then echo "$$d passed: that is a bug"; exit 1; fi; \
	  echo "$$d: denied, as it must be"; \
	done

certs: build ## Make a CA + serving certificate for the self-signed overlay into deploy/overlays/self-signed/certs/ (never committed)
	$(BIN) certs --out $(CERTS_DIR) --service cnpg-guard --namespace $(NAMESPACE) --days 365

image: ## Build the container image with docker or podman, whichever runs here: a static binary built on the host, FROM scratch (no registry needed; ENGINE=podman chooses)
	@CARGO='$(CARGO)' IMAGE='$(IMAGE)' tests/image.sh build

image-test: ## Build the image, run serve in it (read-only root, dev certificate on a tmpfs), send a review over TLS, check the verdict and uid 65532, stop it; one skip line without an engine
	@CARGO='$(CARGO)' IMAGE='$(IMAGE)' tests/image.sh test

# $(call need,RESOURCE,what is missing and how to get it): one line and exit 1
# when `kubectl get RESOURCE` says NotFound; any other error is shown as is.
need = out=$$($(KUBECTL) get $(1) -o name 2>&1) || { case "$$out" in *NotFound*) echo "missing prerequisite: $(2)";; *) echo "cannot check $(1): $$out";; esac; exit 1; }

preflight: ## Check what OVERLAY needs: CloudNativePG's CRDs, namespace databases, cert-manager or the certs
	@case "$(OVERLAY)" in cert-manager|self-signed) ;; *) echo "OVERLAY must be cert-manager or self-signed, not '$(OVERLAY)'"; exit 1;; esac
	@$(KUBECTL) get --raw /version >/dev/null 2>&1 || { echo "cannot reach a cluster with $(KUBECTL): check KUBECONFIG and the current context"; exit 1; }
	@$(call need,crd clusters.postgresql.cnpg.io,CloudNativePG (CRD clusters.postgresql.cnpg.io). Install the operator and its CRDs first: https://cloudnative-pg.io/documentation/current/installation_upgrade/)
	@$(call need,namespace databases,namespace databases (the shared cluster's namespace; the guard's Roles live there). Create it with the shared cluster: kubectl create namespace databases)
	@if [ "$(OVERLAY)" = cert-manager ]; then $(call need,crd certificates.cert-manager.io,cert-manager (CRD certificates.cert-manager.io). Install it (https://cert-manager.io/docs/installation/) or use OVERLAY=self-signed); fi
	@if [ "$(OVERLAY)" = self-signed ] && [ ! -f $(CERTS_DIR)/tls.crt ]; then echo "missing prerequisite: $(CERTS_DIR)/tls.crt (the self-signed serving certificate). Run 'make certs' first"; exit 1; fi
	@if $(KUBECTL) get validatingadmissionpolicybinding cnpg-guard-self-protection >/dev/null 2>&1 && \
	  ! $(KUBECTL) auth whoami -o jsonpath='{.status.userInfo.groups}' 2>/dev/null | grep -qF '"$(BREAK_GLASS_GROUP)"'; then \
	  echo "note: the guard is installed and self-protected: changing its webhook configuration, Deployment, contract ConfigMap or namespace needs a member of $(BREAK_GLASS_GROUP) (KUBECTL='kubectl --as=<you> --as-group=$(BREAK_GLASS_GROUP)')"; fi

deploy: preflight ## Install: prerequisites checked, everything but the webhook, wait for ready pods, then the webhook (OVERLAY=cert-manager|self-signed)
	$(KUSTOMIZE) deploy/overlays/$(OVERLAY) | $(KUBECTL) apply -l 'app.kubernetes.io/component!=webhook-configuration' -f -
	$(KUBECTL) -n $(NAMESPACE) rollout status deploy/cnpg-guard --timeout=180s
	$(KUSTOMIZE) deploy/overlays/$(OVERLAY) | $(KUBECTL) apply -f -
	@for i in $$(seq 1 60); do \
	  [ -n "$$($(KUBECTL) get validatingwebhookconfiguration cnpg-guard -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" ] && exit 0; \
	  sleep 2; done; echo "the webhook has no caBundle yet (cert-manager CA injector?)"; exit 1

undeploy: ## As a member of railiance:platform-admins: the webhook FIRST (writes are never refused), the rest, the self-protection policy last
	@echo "undeploy: only members of $(BREAK_GLASS_GROUP) may remove the guard (ValidatingAdmissionPolicy cnpg-guard-self-protection); impersonating: make undeploy KUBECTL='kubectl --as=<you> --as-group=$(BREAK_GLASS_GROUP)'"
	$(KUBECTL) delete validatingwebhookconfiguration cnpg-guard --ignore-not-found
	$(KUSTOMIZE) deploy/overlays/$(OVERLAY) | $(KUBECTL) delete --ignore-not-found -l 'app.kubernetes.io/component!=self-protection' -f -
	$(KUBECTL) delete validatingadmissionpolicybinding cnpg-guard-self-protection --ignore-not-found
	$(KUBECTL) delete validatingadmissionpolicy cnpg-guard-self-protection --ignore-not-found

status: ## Show the guard's pods, readiness, webhook and recent decisions
	$(KUBECTL) -n $(NAMESPACE) get deploy,pods,svc,pdb -o wide
	$(KUBECTL) get validatingwebhookconfiguration cnpg-guard -o custom-columns=NAME:.metadata.name,FAILURE:.webhooks[0].failurePolicy,TIMEOUT:.webhooks[0].timeoutSeconds
	$(KUBECTL) -n $(NAMESPACE) logs deploy/cnpg-guard --tail=5 2>/dev/null | grep '"decision"' || true

logs: ## Tail the guard's logs (stderr) and audit records (stdout)
	$(KUBECTL) -n $(NAMESPACE) logs -l app.kubernetes.io/name=cnpg-guard -f --tail=50 --max-log-requests=4

audit: build ## Audit the live cluster (current kubeconfig) against CONTRACT (deploy/base/contract.yaml); OUTPUT=text|json|policyreport
	$(BIN) audit --contract $(CONTRACT) --output $(or $(OUTPUT),text)

fuzz: ## Property-based fuzzing of the decoder, rules, DSN parsers and contract loader (PROPTEST_CASES, default 20000 per property)
	PROPTEST_CASES=$(or $(PROPTEST_CASES),20000) timeout 1200 $(CARGO) test --release --locked --test hostile_input

soak: build ## Minutes of steady load with 10% malformed/oversize reviews: no errors, flat memory, no fd leak (SOAK_SECONDS, SOAK_RATE)
	$(CARGO) build --release --locked --examples
	target/release/examples/soak --seconds $(or $(SOAK_SECONDS),180) --rate $(or $(SOAK_RATE),200)

attack: ## Hostile clients against a release serve on 127.0.0.1 (valid reviews at 20/s alongside): latency, peak RSS, fds, back-to-idle; a few minutes, stops by itself (ATTACK_SECONDS per attack)
	$(CARGO) build --release --locked --bin cnpg-guard --example attack
	timeout 900 target/release/examples/attack --seconds $(or $(ATTACK_SECONDS),10)

bench: ## Release build, then: load vs. the floor (c=1/16/64, keep-alive and new TLS), 10k-object scale, per-rule cost (criterion)
	$(CARGO) build --release --locked --bin cnpg-guard --examples
	target/release/examples/bench --seconds $(or $(BENCH_SECONDS),4)
	$(CARGO) bench --locked --bench rules -- --warm-up-time 1 --measurement-time 2

peer-bench: ## CPU per review under the same load: the guard, the floor, the Go peer (examples/peer-go, needs go) and OLD_GUARD (a cnpg-guard binary of another commit) if given
	$(CARGO) build --release --locked --bin cnpg-guard --example bench --example bench_baseline
	@command -v go >/dev/null || { echo "peer-bench needs go to build the Go peer (examples/peer-go, standard library only)"; exit 1; }
	cd examples/peer-go && go build -o ../../target/peer-go .
	target/release/examples/bench --compare --seconds $(or $(BENCH_SECONDS),4) --peer target/peer-go $(if $(OLD_GUARD),--old-guard $(OLD_GUARD))

review-cost: ## Instructions per review of each request of the bench mix (callgrind, needs valgrind; exact, for A/B on a noisy machine)
	$(CARGO) build --release --locked --example review_cost
	@target/release/examples/review_cost | while IFS='	' read -r weight name; do \
	  ir=$$(valgrind --tool=callgrind --toggle-collect='*review_once*' --callgrind-out-file=/dev/null \
	        target/release/examples/review_cost "$$name" 20 2>&1 | awk '/Collected/ {print $$4}'); \
	  printf '%-22s weight %3s  %9d instructions\n' "$$name" "$$weight" $$((ir / 20)); \
	done | awk '{ print } { w += $$(NF-2); s += $$(NF-2) * $$(NF-1) } \
	  END { if (w) printf "%-22s            %9d instructions per request\n", "weighted mix", s / w }'

e2e: ## Against a cluster with the guard deployed: server-side dry-run of the good namespaces, and of each document of deploy/examples/bad on its own (each denied by cnpg-guard with its file's rule)
	@KUBECTL='$(KUBECTL)' tests/e2e.sh

.PHONY: help build run test lint check certs image image-test preflight deploy undeploy status logs audit fuzz soak attack bench peer-bench review-cost e2e

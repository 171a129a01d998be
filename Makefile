# remediator: `make test` is the whole test suite, including its tools.
# Tools are built with `go install` into a cache folder once and reused.

GO          ?= go
TOOLS       ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/remediator/bin
AM_VERSION  := v0.31.1
SC_VERSION  := v0.7.0
# Fuzz budgets are execution counts, not durations: a duration races a
# deadline in Go 1.26's fuzz coordinator (go.dev/issue/75804, fixed in
# 1.27) and fails with "context deadline exceeded" on a loaded machine.
FUZZTIME    ?= 100000x

AM_STAMP := $(TOOLS)/.alertmanager-$(AM_VERSION)
SC_STAMP := $(TOOLS)/.staticcheck-$(SC_VERSION)

.PHONY: test run build tools chromium lint bench

## run: remediator on its embedded default config (127.0.0.1:9095, ./data/remediator.db)
run:
	$(GO) run ./cmd/remediator serve

build:
	$(GO) build -o bin/remediator ./cmd/remediator

tools: $(AM_STAMP) $(SC_STAMP) chromium

# Debian's chromium drives the console's browser test (chromedp); it is
# installed when missing (CI runs as root).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

# Alertmanager newer than v0.31.1 does not build from the module on Go 1.26.
$(AM_STAMP):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/prometheus/alertmanager/cmd/alertmanager@$(AM_VERSION) github.com/prometheus/alertmanager/cmd/amtool@$(AM_VERSION)
	touch $@

$(SC_STAMP):
	mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(SC_VERSION)
	touch $@

lint: $(SC_STAMP)
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

## test: lint, every test (with the race detector, a real Alertmanager, real
## processes and a real bbolt file), then bounded fuzz runs of the webhook
## decoder, the config loader and the placing of values in templates.
test: tools lint
	ALERTMANAGER_BIN=$(TOOLS)/alertmanager AMTOOL_BIN=$(TOOLS)/amtool \
	  $(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeWebhook$$' -fuzztime $(FUZZTIME) ./api
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./rules
	$(GO) test -run '^$$' -fuzz '^FuzzPlace$$' -fuzztime $(FUZZTIME) ./template

## bench: the ingest load generator (durable ingest vs a bare decode handler),
## then memory: 10 simulated days of churn under retention, and 1,000,000
## live alerts with a restart (about 2 GiB of RAM, a minute).
bench:
	$(GO) run ./cmd/loadgen
	$(GO) run ./cmd/loadgen -churn
	$(GO) run ./cmd/loadgen -live 1000000

# upisim: a local, multi-node model of India's UPI message network.

DATA ?= .upisim
BUF  := go tool -modfile=tools/go.mod buf

.PHONY: run test test-short integration e2e sim fuzz gen check-gen lint build bench

## run: start the default six-node network (TPAP REST on :7000, or on
## :$(PORT) with PORT=N, the other nodes' ports after it), data in $(DATA):
## make run PORT=7100 DATA=/tmp/net2
PORT ?=
run: build
	@bin/upisim up --data $(DATA) $(if $(PORT),--port-base $(PORT)) || test $$? -eq 130

## test: vet, then every test with the race detector (integration and e2e included)
test:
	go vet ./...
	go test -race -count=1 -timeout 15m ./...

## test-short: the unit tests only: every package but tests/ (integration,
## e2e and the simulation), which the tiers below run
UNITPKGS = $(shell go list ./... | grep -v '/tests/')
test-short:
	go test -short -count=1 $(UNITPKGS)

## integration: every node in one process, real loopback gRPC and files
integration:
	go test -race -count=1 -timeout 15m ./tests/integration

## e2e: the real binary as separate processes on 127.0.0.1
e2e:
	go test -race -count=1 -timeout 15m ./tests/e2e

## sim: the seeded simulation test at -sim.long size; SIMFLAGS adds flags,
## e.g. SIMFLAGS=-sim.seed=N to run a failed long run's plan again
sim:
	go test -race -count=1 -timeout 30m -run TestSimulation -v ./tests/sim -sim.long $(SIMFLAGS)

## fuzz: run every fuzz target (func FuzzXxx) for FUZZTIME each (FUZZPKGS to
## narrow, e.g. FUZZPKGS=./switch); not part of 'make test', which runs only
## their seed corpora (f.Add and testdata/fuzz)
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 5s
FUZZPKGS ?= $(sort $(patsubst %/,%,$(dir $(shell grep -rl --include='*_test.go' '^func Fuzz' .))))
fuzz:
	@set -e; for pkg in $(FUZZPKGS); do \
		for fn in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$fn"; \
			go test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg; \
		done; \
	done

## gen: regenerate gen/ from proto/ (offline once modules are cached)
gen:
	rm -rf gen/go gen/openapi/*.json
	$(BUF) generate --path proto/upi
	$(BUF) generate --template buf.gen.records.yaml --path proto/upisim/records
	$(BUF) generate --template buf.gen.merchant.yaml --path proto/upisim/merchant

## check-gen: fail when gen/ drifts from proto/ or the protos break lint
check-gen:
	$(BUF) lint
	$(MAKE) gen
	git diff --exit-code -- gen/
	@test -z "$$(git status --porcelain -- gen/)" || { echo "untracked files in gen/:"; git status --porcelain -- gen/; exit 1; }

lint: check-gen
	go vet ./...

build:
	go build -o bin/upisim ./cmd/upisim

## bench: drive pay flows against a network started with 'make run'
bench:
	go run ./cmd/upisim bench --data $(DATA) --flows 20000 --concurrency 64

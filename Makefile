# xvs — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin
FUZZTIME ?= 10s

.PHONY: all build test demo bench bench-smoke lint unit fuzz-smoke deps clean

all: build

build:
	$(GO) build -o $(BIN)/xvs ./cmd/xvs
	$(GO) build -o $(BIN)/xvsadm ./cmd/xvsadm

deps:
	@bash scripts/deps.sh

# The whole proof: formatting, vet, staticcheck, unit + end-to-end tests under
# the race detector (end-to-end tests build namespaces and need root), brief
# fuzzing of every parser, benchmarks run once so they cannot rot, and the
# benchmark harness's smoke subset.
test: deps lint unit fuzz-smoke bench-smoke

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit: build
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -run '^$$' -bench . -benchtime=1x -count=1 ./...

fuzz-smoke:
	@bash scripts/fuzz-smoke.sh $(FUZZTIME)

demo: deps build
	$(GO) run ./cmd/xvs-demo

bench: deps build
	$(GO) run ./bench/cmd/xvs-bench -out results

bench-smoke: deps build
	$(GO) run ./bench/cmd/xvs-bench -smoke -xvs require -out $${TMPDIR:-/tmp}/xvs-bench-smoke

clean:
	rm -rf $(BIN)

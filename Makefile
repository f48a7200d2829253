# Everyday commands. `make test-postgres` needs ROOST_TEST_DATABASE_URL=postgres://… (see README).
.PHONY: build test test-postgres ci bench serve format lint

build:
	swift build

test:
	swift test

test-postgres:
	@test -n "$$ROOST_TEST_DATABASE_URL" || (echo "set ROOST_TEST_DATABASE_URL=postgres://…" && exit 1)
	swift test

ci:
	bash .ci/run

serve:
	swift run roost serve

bench:
	swift build -c release --product roost
	.build/release/roost bench

format:
	swift format format --in-place --recursive Sources Tests Package.swift

lint:
	swift format lint --recursive Sources Tests

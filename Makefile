# The two commands a newcomer needs (see README.md).
#   make run    install deps, build, start surel serve on its embedded defaults
#   make check  install deps, build with ASan+UBSan, run every test

BUILD       ?= build
CHECK_BUILD ?= build-check
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECS   ?= 10
PYTHON      ?= /usr/bin/python3

.PHONY: run check deps build build-check unit integration fuzz clean

run: deps build
	@echo "Starting surel on its built-in defaults (data in ./var, loopback only)."
	$(BUILD)/src/surel serve

check: deps build-check unit integration fuzz

deps:
	@scripts/install-deps

build:
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) --buildtype=release
	ninja -C $(BUILD)

build-check:
	@test -f $(CHECK_BUILD)/build.ninja || \
		meson setup $(CHECK_BUILD) -Db_sanitize=address,undefined -Dwerror=true
	ninja -C $(CHECK_BUILD)

unit: build-check
	meson test -C $(CHECK_BUILD) --suite unit --print-errorlogs

integration: build-check
	SUREL_BIN=$(CURDIR)/$(CHECK_BUILD)/src/surel $(PYTHON) -m pytest -q tests/integration

# Every libFuzzer target for FUZZ_SECS seconds each (clang, ASan+UBSan).
fuzz: deps
	@test -f $(FUZZ_BUILD)/build.ninja || CC=clang meson setup $(FUZZ_BUILD) \
		-Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link
	ninja -C $(FUZZ_BUILD)
	scripts/fuzz-smoke $(FUZZ_BUILD) $(FUZZ_SECS)

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(FUZZ_BUILD)

# boxfs — the project's vocabulary. Meson and ninja do the building; this file
# only names the tasks. See README.md.

BUILD        ?= build
ASAN_BUILD   ?= build-asan
FUZZ_BUILD   ?= build-fuzz
PREFIX       ?= /usr/local
DESTDIR      ?=
FUZZ_SECONDS ?= 60
MESON        ?= meson

.PHONY: all deps build test test-asan fuzz run bench install clean format interop

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --prefix=$(PREFIX)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: deps
	@$(MAKE) --no-print-directory build
	@scripts/run-tests.sh $(BUILD)

$(ASAN_BUILD)/build.ninja:
	CC=clang $(MESON) setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug

test-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 scripts/run-tests.sh $(ASAN_BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang $(MESON) setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	@scripts/run-fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

run: deps build
	@scripts/run-server.sh $(BUILD)

bench: deps build
	@scripts/run-bench.sh $(BUILD)

interop: deps build
	@tests/interop/run.sh $(BUILD)

install: build
	DESTDIR=$(DESTDIR) $(MESON) install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

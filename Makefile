# hookd — the two commands a newcomer needs: `make run` and `make test`.
# CMake does the real work; this file only names the entry points. Each target first checks
# the Debian packages it needs (scripts/deps.sh: build, test or bench), and only those.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CLANG_FORMAT ?= clang-format
PREFIX ?= /usr/local
# Everything clang-format checks: the C of src/ (core included), the headers, tests, fuzz.
FORMAT_FILES = $(shell find src include tests/unit fuzz -name '*.[ch]' | sort)
# What `make tsan` runs: the unit tests and the black-box tests whose daemon runs its store
# thread under load (the thread shares its queues with the loop), on SQLite.
TSAN_TESTS ?= ^unit\.|^bb\.test_(serve|receive|multinode)_.*\.sqlite$$

.PHONY: all deps configure test sanitize tsan run bench install deb systemd-check clean format format-check lint

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh build

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

# Every test: unit tests, black-box tests on SQLite and on PostgreSQL, benchmark smoke runs.
test: all
	@scripts/deps.sh test
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600

# The same unit and black-box tests under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize:
	@scripts/deps.sh test
	@test -f build-asan/CMakeCache.txt || cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHOOKD_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j 2 --timeout 900 -LE bench

# ThreadSanitizer over the tests that run the store thread (TSAN_TESTS); tsan.supp lists
# the library reports it silences, each with its reason. Reports go to files, not to the
# daemons' logs, so a race in a test that otherwise passes still fails the target.
TSAN_REPORTS = $(CURDIR)/build-tsan/tsan-reports
tsan:
	@scripts/deps.sh test
	@test -f build-tsan/CMakeCache.txt || cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DHOOKD_TSAN=ON
	cmake --build build-tsan -j $(JOBS)
	rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	cd build-tsan && TSAN_OPTIONS="suppressions=$(CURDIR)/tsan.supp second_deadlock_stack=1 log_path=$(TSAN_REPORTS)/report" \
		ctest --output-on-failure -j 2 --timeout 900 -R '$(TSAN_TESTS)'
	@if [ -n "$$(ls $(TSAN_REPORTS))" ]; then cat $(TSAN_REPORTS)/*; \
		echo "tsan: $$(ls $(TSAN_REPORTS) | wc -l) report(s) above" >&2; exit 1; fi

# Start the sender on 127.0.0.1:8080 with the embedded SQLite store.
run: all
	$(BUILD)/hookd serve --listen 127.0.0.1:8080 --db sqlite:hookd.db

bench: all
	@scripts/deps.sh bench
	bench/run-all.sh

# bin/hookd, lib/libhookd.a, include/hookd.h and lib/pkgconfig/hookd.pc under PREFIX
# (DESTDIR=/tmp/stage make install stages them for a package).
install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

# $(BUILD)/hookd_VERSION-1_ARCH.deb: the install above (prefix /usr), the systemd units
# (dist/systemd), default settings (dist/etc) and docs; dependencies from dpkg-shlibdeps.
deb: all
	scripts/make-deb.sh $(BUILD)

# Installs the .deb on a fresh Debian 12 booted under a real systemd (systemd-nspawn) and
# checks both units end to end (scripts/systemd-boot-check.sh). Opt-in, not in `make test`:
# needs root, the Debian mirror, and a minute (a few the first time: the root is cached in
# /var/tmp/hookd-root).
systemd-check: deb
	scripts/systemd-boot-check.sh

# Rewrites every C file in place to .clang-format (Debian 12's clang-format 14).
format:
	@scripts/deps.sh format
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

# Fails, naming each place, when a file differs from what `make format` would write.
format-check:
	@scripts/deps.sh format
	$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_FILES)

# The habits CI keeps: formatting, and no function in src/ over 100 lines.
lint: format-check
	python3 scripts/long-functions.py 100 $(shell find src -name '*.c')

clean:
	rm -rf $(BUILD) build-asan build-tsan

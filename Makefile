# hookd — the two commands a newcomer needs: `make run` and `make test`.
# CMake does the real work; this file only names the entry points.
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure test test-unit test-sqlite test-postgres sanitize run bench clean format

all: configure
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/deps.sh

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

# Every test: unit tests, black-box tests on SQLite and on PostgreSQL, benchmark smoke runs.
test: all
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 600

# The same unit and black-box tests under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: deps
	@test -f build-asan/CMakeCache.txt || cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHOOKD_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j 2 --timeout 900 -LE bench

# Start the sender on 127.0.0.1:8080 with the embedded SQLite store.
run: all
	$(BUILD)/hookd serve --listen 127.0.0.1:8080 --db sqlite:hookd.db

bench: all
	bench/run-all.sh

format:
	clang-format -i src/*.c src/*.h include/*.h tests/unit/*.c

clean:
	rm -rf $(BUILD) build-asan

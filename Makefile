# The README's two commands, `make demo` and `make test`, each do all of their own set-up.
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan test test-normal test-asan demo fuzz bench format clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGIF_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)

# Every test, in the normal build and again in the ASan+UBSan build.
test: build build-asan
	@echo "== tests: normal build =="
	@cd build && ctest --output-on-failure -j $(JOBS)
	@echo "== tests: ASan+UBSan build =="
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

demo: build
	@bash scripts/demo.sh

# libFuzzer builds of every harness (clang); run one with e.g. build-fuzz/fuzz_record -max_total_time=60
fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGIF_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

bench: build
	@bash scripts/deps.sh bench
	@bash bench/run.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz

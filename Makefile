# Entry points for people and CI; the real build is CMake (see CMakePresets.json).
JOBS ?= $(shell nproc)

.PHONY: setup build build-asan demo test test-release test-asan fuzz clean

setup:
	bash scripts/setup.sh

build: setup
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

build-asan: setup
	cmake --preset debug-asan
	cmake --build --preset debug-asan -j $(JOBS)

# The main job on the bundled demo experiment: SmolLM2 at three precisions, BM25 and
# MiniLM retrieval, k in {0, 1, 3, 5, max}, on a small invented LaMP-3/LaMP-5 sample.
demo: build
	./build/release/qrag run examples/demo.toml --out runs/demo

# Every test: the release build, then the same suites under ASan + UBSan.
test: test-release test-asan

test-release: build
	ctest --preset release -j $(JOBS)

test-asan: build-asan
	ctest --preset debug-asan -j $(JOBS)

fuzz: setup
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS)

clean:
	rm -rf build

# Cairn - the short Makefile over CMake. `make run` and `make test` are all
# a newcomer needs on a fresh Debian 12 machine; both install what is
# missing first (scripts/deps.sh).

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
# make test runs the suite twice: on the release build and on the address +
# undefined sanitizer build; SANITIZE=0 skips the second run (a quick loop)
SANITIZE   ?= 1
# make install: PREFIX, DESTDIR (a staging root), the Python that gets the
# package and, to override its site directory, PYTHON_SITEDIR
PREFIX     ?= /usr/local
DESTDIR    ?=
PYTHON     ?= /usr/bin/python3
PYTHON_SITEDIR ?=
ifeq ($(CI),true)
CMAKE_ARGS += -DCAIRN_WERROR=ON
endif

.PHONY: all deps build build-asan run test test-asan bench install clean

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@sh scripts/run.sh $(BUILD)

test: build
	@sh scripts/deps.sh test
ifeq ($(SANITIZE),0)
	@sh scripts/test-all.sh $(BUILD)
else
	@$(MAKE) --no-print-directory build-asan
	@sh scripts/test-all.sh $(BUILD) $(ASAN_BUILD)
endif

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

test-asan: build-asan
	@sh scripts/deps.sh test
	@sh scripts/test-all.sh $(ASAN_BUILD)

bench: build
	@sh bench/run.sh $(BUILD)
	@sh bench/engine.sh $(BUILD)
	@sh bench/serve.sh $(BUILD)
	@sh bench/dedup.sh $(BUILD)
	@sh bench/sync.sh $(BUILD)
	@sh bench/python.sh $(BUILD)
	@sh bench/s3.sh $(BUILD)
	@sh bench/compress.sh $(BUILD)

# cairn, libcairn.so* and the headers (CMake), then the Python package, without
# pip, into PYTHON's site directory for PREFIX (python/_build/cairn_build.py)
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)
	@$(PYTHON) python/_build/cairn_build.py install --prefix $(PREFIX) --root "$(DESTDIR)" \
		--manifest $(BUILD)/install_manifest.txt $(if $(PYTHON_SITEDIR),--sitedir $(PYTHON_SITEDIR))
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

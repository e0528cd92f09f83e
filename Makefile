# strong-lens toolchain: build, test, install, benchmarks, demo.
#
#   make            build libcommon and every tool (installs Debian packages first
#                   when a pkg-config check fails)
#   make check      C unit tests and bats CLI tests; SANITIZE=1 for ASan + UBSan
#   make bench      benchmarks, printed as ratios against peers run alongside
#   make demo       the main job, end to end, with the shipped models (TRAIN=1: retrain)
#   make models     retrain the shipped models byte for byte (hours)
#   make install    PREFIX=/usr/local by default
#   make deps       install the Debian packages this needs

VERSION   := 0.1.0
PREFIX    ?= /usr/local
PKGS      := cfitsio openblas fftw3f msgpack libpng wcslib
DEB_PKGS  := build-essential pkg-config libcfitsio-dev libopenblas-dev libfftw3-dev \
             libmsgpack-dev libpng-dev wcslib-dev bats jq parallel bzip2 time

# Objects of a sanitizer build live apart, so the two never mix.
ifeq ($(SANITIZE),1)
O         := build/sanitize
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT       := -O1 -g
else
O         := build/release
SAN_FLAGS :=
OPT       := -O2 -g
endif

DEPS_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && command -v bats >/dev/null && command -v jq >/dev/null && echo yes)

ifneq ($(DEPS_OK),yes)
# A fresh machine: install the packages, then start again with the flags they provide.
.DEFAULT_GOAL := all
all check bench demo models install:
	$(MAKE) deps
	$(MAKE) $@
else

CC      ?= cc
CFLAGS  ?= $(OPT)
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread $(SAN_FLAGS) \
           -DSL_VERSION='"$(VERSION)"' -Ilibcommon -Itools $(shell pkg-config --cflags $(PKGS))
LDFLAGS += -pthread $(SAN_FLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lm

LIB_SRC   := $(wildcard libcommon/*.c libcommon/*/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(O)/%.o)
LIB       := $(O)/libcommon.a
TOOL_SRC  := $(wildcard tools/sl-*.c)
TOOLS     := $(TOOL_SRC:tools/%.c=$(O)/bin/%)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNITS     := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
FIXTURES  := $(patsubst tests/fixtures/%.c,$(O)/tests/%,$(wildcard tests/fixtures/*.c))
BENCHES   := $(patsubst bench/%.c,$(O)/bench/%,$(wildcard bench/*.c))
BATS      := $(wildcard tests/cli/*.bats)

.PHONY: all check unit cli bench demo models install clean deps
# Keep objects between runs (make would delete them as intermediates).
.SECONDARY:
all: $(TOOLS)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# tools/cli.c is the command-line part every tool shares (options, errors, exits).
$(O)/bin/%: $(O)/tools/%.o $(O)/tools/cli.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(O)/tools/cli.o $(LIB) $(LDLIBS)

$(O)/tests/%: $(O)/tests/fixtures/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(O)/bench/%: $(O)/bench/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

-include $(FIXTURES:$(O)/tests/%=$(O)/tests/fixtures/%.d) $(LIB_OBJ:.o=.d) $(TOOLS:$(O)/bin/%=$(O)/tools/%.d) $(O)/tools/cli.d $(UNIT_SRC:%.c=$(O)/%.d)

# Tests run with one BLAS thread and the C locale, so results never depend on
# the machine's defaults.
TEST_ENV := LC_ALL=C OPENBLAS_NUM_THREADS=1 SL_SANITIZE=$(SANITIZE) SL_BIN=$(CURDIR)/$(O)/bin SL_TESTS=$(CURDIR)/$(O)/tests \
            PATH="$(CURDIR)/$(O)/bin:$(CURDIR)/$(O)/tests:$$PATH"

check: unit cli
unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "unit: $$t"; $(TEST_ENV) $$t; done
cli: $(TOOLS) $(FIXTURES)
	$(TEST_ENV) bats $(BATS)

bench: $(TOOLS) $(FIXTURES) $(BENCHES)
	@for b in bench/*.sh; do $(TEST_ENV) PATH="$(CURDIR)/$(O)/bench:$$PATH" sh $$b || exit 1; done

# libFuzzer harnesses (tests/fuzz/README.md), built with clang, ASan and UBSan
# apart from the other builds; seeds from the tests' fixtures.
FO          := build/fuzz
FUZZ_CC     := clang
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread $(FUZZ_SAN) \
               -fsanitize=fuzzer-no-link -DSL_VERSION='"$(VERSION)"' -Ilibcommon \
               $(shell pkg-config --cflags $(PKGS))
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZERS     := $(FUZZ_NAMES:%=$(FO)/fuzz_%)
SECONDS     ?= 60

$(FO)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FO)/libcommon.a: $(LIB_SRC:%.c=$(FO)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(FO)/fuzz_%: $(FO)/tests/fuzz/fuzz_%.o $(FO)/libcommon.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $@ $^ $(LDLIBS)

-include $(LIB_SRC:%.c=$(FO)/%.d) $(FUZZ_NAMES:%=$(FO)/tests/fuzz/fuzz_%.d)

.PHONY: fuzz fuzzers
fuzzers: $(FUZZERS)
# SECONDS per harness, one after another; HARNESSES=... for some of them.
fuzz: $(FUZZERS) $(TOOLS) $(FIXTURES)
	sh tests/fuzz/seeds.sh $(CURDIR)/$(O)/bin $(CURDIR)/$(O)/tests $(CURDIR)/$(FO)/seeds
	sh tests/fuzz/run.sh $(FO) $(SECONDS) $(HARNESSES)

# Failure injection (tests/faults/README.md): every tool linked with wrappers
# that make the k-th read, write, fclose, rename, malloc or fopen fail, built
# with ASan and UBSan; tests/faults/faults.bats runs a small pipeline of each
# tool for every k.
FB         := build/faults
FAULT_SAN  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FAULT_WRAP := -Wl,--wrap=read,--wrap=write,--wrap=fclose,--wrap=rename,--wrap=malloc \
              -Wl,--wrap=calloc,--wrap=realloc,--wrap=fopen
FAULT_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread $(FAULT_SAN) \
                -DSL_VERSION='"$(VERSION)"' -Ilibcommon -Itools $(shell pkg-config --cflags $(PKGS))
FAULT_TOOLS := $(TOOL_SRC:tools/%.c=$(FB)/bin/%)

$(FB)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FAULT_CFLAGS) -MMD -MP -c -o $@ $<

$(FB)/libcommon.a: $(LIB_SRC:%.c=$(FB)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(FB)/bin/%: $(FB)/tools/%.o $(FB)/tools/cli.o $(FB)/libcommon.a $(FB)/tests/faults/inject.o
	@mkdir -p $(@D)
	$(CC) $(FAULT_SAN) $(FAULT_WRAP) -pthread -o $@ $< $(FB)/tools/cli.o $(FB)/libcommon.a \
	    $(FB)/tests/faults/inject.o $(LDLIBS)

-include $(LIB_SRC:%.c=$(FB)/%.d) $(TOOL_SRC:%.c=$(FB)/%.d) $(FB)/tools/cli.d

.PHONY: faults
faults: $(FAULT_TOOLS) $(TOOLS) $(FIXTURES)
	$(TEST_ENV) SL_FAULT_BIN=$(CURDIR)/$(FB)/bin bats tests/faults/faults.bats

demo: $(TOOLS)
	$(MAKE) --no-print-directory -f examples/demo.mk BIN=$(O)/bin OUT=demo-out TRAIN=$(TRAIN)

# The shipped encoders, retrained from nothing (hours; resumable): models/sdss-r/Makefile.
models: $(TOOLS)
	$(MAKE) --no-print-directory -C models/sdss-r BIN=$(CURDIR)/$(O)/bin

install: $(TOOLS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 man/man1/*.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/man5/*.5 $(DESTDIR)$(PREFIX)/share/man/man5

endif

deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "all Debian packages present"; fi

clean:
	rm -rf build

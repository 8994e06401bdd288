# tollgate — build, BPF skeletons, deps, run, test.
#
#   make deps     install missing Debian packages and the test npm packages
#   make          build build/tollgate
#   make run      deps + build + run the agent in the foreground
#   make test     deps + build + every test (ends with "N passed, N failed")
#   make fuzz     longer libFuzzer runs of every harness
#   make bench    capture-overhead, agent (CPU per metered call, RSS) and tokenizer benchmarks
#   V=1           show the commands

SHELL        := /bin/bash
BUILD        ?= build
CC           ?= gcc
CLANG        ?= clang
BPFTOOL      ?= bpftool
VMLINUX_BTF  ?= /sys/kernel/btf/vmlinux
POLICY       ?= policies/default.yaml

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

PKGS := libbrotlidec libzstd json-c yaml-0.1 libnghttp2 openssl zlib libelf libbpf sqlite3 capstone
WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS ?= -O2 -g
BASE_CFLAGS := $(CFLAGS) -std=gnu11 $(WARN) -D_GNU_SOURCE -MMD -MP \
	-Iinclude -I$(BUILD) -fno-strict-aliasing
# The brotli encoder is for tests only (decode bombs), not the agent.
TEST_LDLIBS := $(shell pkg-config --libs libbrotlienc 2>/dev/null || echo -lbrotlienc)
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lbrotlidec -lzstd -ljson-c -lyaml -lnghttp2 -lssl -lcrypto -lz -lelf -lbpf -lsqlite3 -lcapstone) -lm -lpthread

# Edges: own fds, BPF, threads, the CLI.  Everything else in user/ is the
# pure core, also built with sanitizers for the unit tests.
EDGE_SRCS := user/main.c user/capture.c user/attach.c user/trace.c user/run.c user/agent.c \
	$(wildcard user/cmd_*.c) \
	user/procinfo.c user/cgroup.c user/elfsym.c user/enforce.c user/forcefail.c \
	user/control.c user/kfeatures.c
USER_SRCS := $(sort $(wildcard user/*.c user/providers/*.c))
-include user/tokenizer/tokenizer.mk
USER_SRCS += $(TOKENIZER_SRCS)
CORE_SRCS := $(filter-out $(EDGE_SRCS),$(USER_SRCS))

OBJS      := $(patsubst %.c,$(BUILD)/%.o,$(USER_SRCS))
ASAN_OBJS := $(patsubst %.c,$(BUILD)/asan/%.o,$(CORE_SRCS))
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS    := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c) $(TOKENIZER_TEST_SRCS))
UNIT_BINS  := $(patsubst %.c,$(BUILD)/asan/%,$(UNIT_SRCS))
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_OBJS  := $(patsubst %.c,$(BUILD)/fuzz/%.o,$(CORE_SRCS))

# Keep intermediates (BPF objects, sanitizer and fuzz objects): no rm after the test summary.
.SECONDARY:
.PHONY: all deps run test unit fuzz bench clean install check-root
all: $(BUILD)/tollgate

$(BUILD)/tollgate: $(OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vmlinux.h: | $(BUILD)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c include/tollgate_abi.h $(BUILD)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		-Iinclude -I$(BUILD) -c $< -o $@
	$(Q)llvm-strip -g $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

# Edge objects may include a skeleton: make sure they exist first.
$(OBJS): | $(SKELS)

$(BUILD)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c
	$(call msg,CC-ASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) -O1 -c $< -o $@

$(BUILD)/asan/tests/%: tests/%.c $(ASAN_OBJS) tests/unit/tap.h tests/unit/fixtures.h tests/unit/strbuf.h
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) -O1 -Itests/unit -o $@ $< $(ASAN_OBJS) $(LDLIBS) $(TEST_LDLIBS)

$(BUILD)/fuzz/%.o: %.c
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(filter-out -Werror,$(BASE_CFLAGS)) -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -g -O1 -c $< -o $@

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(filter-out -Werror -MMD -MP,$(BASE_CFLAGS)) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 -o $@ $^ $(LDLIBS)

$(BUILD):
	$(Q)mkdir -p $@

# --- set-up -----------------------------------------------------------------
DEB_PKGS := build-essential clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev \
	libssl-dev libyaml-dev libbrotli-dev libzstd-dev libjson-c-dev \
	libnghttp2-dev libsqlite3-dev libcapstone-dev pkg-config libclang-rt-14-dev \
	prometheus curl wget gnutls-bin openssl python3 python3-httpx python3-h2 \
	golang-go nodejs npm iproute2 procps util-linux time manpages manpages-dev

deps:
	$(Q)./scripts/deps.sh $(DEB_PKGS)

check-root:
	$(Q)if [ "$$(id -u)" != 0 ]; then echo "tollgate: run as root (sudo make $(MAKECMDGOALS))" >&2; exit 1; fi

# The demo keeps its ledger under build/ (no root-owned state in /var/lib).
run: check-root deps all
	@echo "tollgate: ledger $(BUILD)/ledger.db (tollgate report --db $(BUILD)/ledger.db), metrics http://127.0.0.1:9464/metrics"
	$(BUILD)/tollgate run --policy $(POLICY) --db $(BUILD)/ledger.db --metrics 127.0.0.1:9464

unit: $(UNIT_BINS)

# Programs the integration tests run (not part of the agent).
INTEG_HELPERS := $(patsubst tests/integ/helpers/%.c,$(BUILD)/integ/%,$(wildcard tests/integ/helpers/*.c))

# Helpers that link more than libc.
$(BUILD)/integ/ff_client: HELPER_LIBS := -lssl -lcrypto
$(BUILD)/integ/ff_hold: user/forcefail.c user/elfsym.c include/forcefail.h include/elfsym.h
$(BUILD)/integ/ff_hold: HELPER_LIBS := -D_GNU_SOURCE -Iinclude user/forcefail.c user/elfsym.c -lelf

# Stripped, as the executables discovery is for; the refused one lacks an
# error site discovery needs.
$(BUILD)/integ/fake_tls: HELPER_LIBS := -s
$(BUILD)/integ/fake_tls_refused: tests/integ/helpers/fake_tls.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -DREFUSED -s -o $@ $<

INTEG_HELPERS += $(BUILD)/integ/fake_tls_refused

$(BUILD)/integ/%: tests/integ/helpers/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) -o $@ $< $(HELPER_LIBS)

# The Go test client, built with Debian's golang-go (installed by deps):
# crypto/tls and net/http, with symbols and stripped.  Nothing is
# downloaded (GOPROXY=off); static, so no cgo.
GO      ?= go
GOCACHE ?= $(if $(HOME),$(HOME)/.cache/go-build,$(abspath $(BUILD))/gocache)
# Other builds check where the probe points are found (tests/unit/
# test_gotls): cgo with the external linker, a stripped PIE (as Debian
# builds Go programs), arm64, and 386 (refused: no register ABI).
GO_HELPERS := $(addprefix $(BUILD)/integ/go_llm,_ _stripped _cgo _pie_stripped _arm64 _386)
GO_HELPERS := $(patsubst %_,%,$(GO_HELPERS))
GO_BUILD = GOCACHE=$(GOCACHE) GOPROXY=off GOFLAGS= GO111MODULE=off $(GO) build -trimpath
GO_LLM_SRC := tests/integ/clients/go_llm/main.go

$(BUILD)/integ/go_llm: GO_ENV := CGO_ENABLED=0
$(BUILD)/integ/go_llm_stripped: GO_ENV := CGO_ENABLED=0
$(BUILD)/integ/go_llm_stripped: GO_LDFLAGS := -s -w
$(BUILD)/integ/go_llm_cgo: GO_ENV := CGO_ENABLED=1
$(BUILD)/integ/go_llm_cgo: GO_LDFLAGS := -linkmode=external
$(BUILD)/integ/go_llm_pie_stripped: GO_ENV := CGO_ENABLED=1
$(BUILD)/integ/go_llm_pie_stripped: GO_MODE := -buildmode=pie
$(BUILD)/integ/go_llm_pie_stripped: GO_LDFLAGS := -linkmode=external -s -w
$(BUILD)/integ/go_llm_arm64: GO_ENV := CGO_ENABLED=0 GOARCH=arm64
$(BUILD)/integ/go_llm_arm64: GO_LDFLAGS := -s -w
$(BUILD)/integ/go_llm_386: GO_ENV := CGO_ENABLED=0 GOARCH=386

$(GO_HELPERS): $(BUILD)/integ/go_llm%: $(GO_LLM_SRC)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(GO_ENV) $(GO_BUILD) $(GO_MODE) -ldflags='$(GO_LDFLAGS)' -o $@ $<

test: check-root deps all unit $(FUZZ_BINS) $(INTEG_HELPERS) $(GO_HELPERS)
	$(Q)BUILD=$(BUILD) ./tests/run.sh

# New inputs go to FUZZ_OUT (a fresh temp dir by default), never into the
# committed corpus, which stays small and curated: copy an input there by
# hand when it earns its place.
fuzz: $(FUZZ_BINS)
	$(Q)out=$${FUZZ_OUT:-$$(mktemp -d /tmp/tollgate-fuzz.XXXXXX)}; \
	for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p $$out/$$n; \
		$$f -max_total_time=$${FUZZ_SECONDS:-60} -rss_limit_mb=2048 $$out/$$n \
			tests/fuzz/corpus/$${n#fuzz_} 2>&1 | grep -E '^Done|ERROR|SUMMARY' ; \
		[ $${PIPESTATUS[0]} = 0 ] || exit 1; done; \
	echo "fuzz: new inputs in $$out"

bench: check-root deps all
	$(Q)./bench/run.sh

install: all
	install -D -m 0755 $(BUILD)/tollgate $(DESTDIR)/usr/local/sbin/tollgate
	install -D -m 0644 policies/default.yaml $(DESTDIR)/etc/tollgate/default.yaml
	install -D -m 0644 policies/prices.yaml $(DESTDIR)/etc/tollgate/prices.yaml

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)

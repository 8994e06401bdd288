# tollgate — build, BPF skeletons, deps, run, test.
#
#   make deps     install missing Debian packages and the test npm packages
#   make          build build/tollgate
#   make run      deps + build + run the agent in the foreground
#   make test     deps + build + every test (ends with "N passed, N failed")
#   make fuzz     longer libFuzzer runs of every harness
#   make bench    capture-overhead, agent (CPU per metered call, RSS) and tokenizer benchmarks
#   make install  install under PREFIX (/usr/local), DESTDIR honoured; make uninstall
#   make deb      the Debian package, in build/deb/
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
.PHONY: all deps run test unit fuzz bench clean install uninstall deb check-root
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
	golang-go nodejs npm iproute2 procps util-linux time manpages manpages-dev \
	debhelper lintian mandoc bash-completion python3-yaml

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

# --- install ----------------------------------------------------------------
# make install | uninstall  [DESTDIR=] [PREFIX=/usr/local] [SYSCONFDIR=/etc]
#   [LOCALSTATEDIR=/var] [SYSTEMDUNITDIR=$(PREFIX)/lib/systemd/system]
#   [MANDIR=$(PREFIX)/share/man] [BASHCOMPDIR=$(PREFIX)/share/bash-completion/completions]
# The binary goes to $(PREFIX)/sbin and its data to $(PREFIX)/share/tollgate:
# it finds its price table at <its directory>/../share/tollgate/prices.yaml.
# install builds nothing beyond `all` and never runs deps.
PREFIX         ?= /usr/local
SYSCONFDIR     ?= /etc
LOCALSTATEDIR  ?= /var
MANDIR         ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR    ?= $(PREFIX)/share/bash-completion/completions

I_SBIN  = $(DESTDIR)$(PREFIX)/sbin
I_SHARE = $(DESTDIR)$(PREFIX)/share/tollgate
I_ETC   = $(DESTDIR)$(SYSCONFDIR)/tollgate
I_STATE = $(DESTDIR)$(LOCALSTATEDIR)/lib/tollgate
I_MAN8  = $(DESTDIR)$(MANDIR)/man8
I_UNIT  = $(DESTDIR)$(SYSTEMDUNITDIR)
I_COMP  = $(DESTDIR)$(BASHCOMPDIR)
# Shipped as they are, each into $(PREFIX)/share/tollgate/<its directory>/;
# promtool's rule tests (*.test.yml) are not installed.
I_DATA_DIRS := grafana prometheus kubernetes
I_DATA = $(filter-out %.test.yml,$(wildcard deploy/grafana/*.json deploy/prometheus/*.yml deploy/kubernetes/*))
I_EXAMPLES = $(notdir $(wildcard policies/examples/*.yaml))
# The unit template's @VARIABLES@.
UNIT_SED = -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@PREFIX@|$(PREFIX)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g'
# On the live system (no DESTDIR) under a running systemd, install and
# uninstall tell systemd that the unit changed.
SYSTEMD_LIVE = [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null

# The policy is the admin's: an existing policy.yaml is never overwritten.
# When it differs from the shipped default, the default is installed beside
# it as policy.yaml.dist (and removed again once they agree).  The state
# directory (ledger, discovery cache) is created 0700 if missing, never
# emptied.  The service is neither enabled nor started.
install: all
	$(Q)set -e; umask 022; \
	for f in doc/tollgate.8 deploy/systemd/tollgate.service.in deploy/bash-completion/tollgate; do \
		[ -f "$$f" ] || { echo "install: $$f is missing" >&2; exit 1; }; done; \
	sed $(UNIT_SED) deploy/systemd/tollgate.service.in > $(BUILD)/tollgate.service; \
	if grep -n '@[A-Z_]*@' $(BUILD)/tollgate.service >&2; then \
		echo "install: deploy/systemd/tollgate.service.in: unknown @VARIABLE@ above" >&2; exit 1; fi; \
	inst() { echo "  INSTALL  $$3"; install -D -m "$$1" "$$2" "$$3"; }; \
	inst 0755 $(BUILD)/tollgate $(I_SBIN)/tollgate; \
	inst 0644 $(BUILD)/tollgate.service $(I_UNIT)/tollgate.service; \
	inst 0644 doc/tollgate.8 $(I_MAN8)/tollgate.8; \
	inst 0644 deploy/bash-completion/tollgate $(I_COMP)/tollgate; \
	inst 0644 policies/prices.yaml $(I_SHARE)/prices.yaml; \
	for f in $(I_DATA); do [ -f "$$f" ] || continue; \
		inst 0644 "$$f" $(I_SHARE)/$$(basename "$$(dirname "$$f")")/$$(basename "$$f"); done; \
	install -d -m 0755 $(I_ETC) $(I_ETC)/examples; \
	for f in $(I_EXAMPLES); do inst 0644 policies/examples/$$f $(I_ETC)/examples/$$f; done; \
	p=$(I_ETC)/policy.yaml; \
	if [ ! -e "$$p" ]; then inst 0644 policies/default.yaml "$$p"; rm -f "$$p.dist"; \
	elif cmp -s policies/default.yaml "$$p"; then rm -f "$$p.dist"; \
	else inst 0644 policies/default.yaml "$$p.dist"; \
		echo "install: kept the edited $$p; the shipped default is $$p.dist"; fi; \
	if [ ! -d $(I_STATE) ]; then echo "  INSTALL  $(I_STATE)/"; install -d -m 0700 $(I_STATE); fi
	$(Q)if $(SYSTEMD_LIVE); then systemctl daemon-reload || true; \
		echo "install: start it with: systemctl enable --now tollgate"; fi

# Removes what install placed and the directories of its own that are left
# empty; shared ones (sbin, man8, the unit and completion directories) stay.
# policy.yaml goes only if it is still the shipped default; the state
# directory ($(LOCALSTATEDIR)/lib/tollgate: the ledger) always stays.  On the
# live system under a running systemd the service is stopped and disabled
# first (its unit is about to go); with DESTDIR, systemd is not touched.
uninstall:
	$(Q)if $(SYSTEMD_LIVE) && [ -e $(I_UNIT)/tollgate.service ]; then \
		echo "uninstall: systemctl disable --now tollgate"; \
		systemctl disable --now tollgate.service || true; fi
	$(Q)del() { for f; do [ -e "$$f" ] || continue; echo "  RM       $$f"; rm -f "$$f"; done; }; \
	del $(I_SBIN)/tollgate $(I_UNIT)/tollgate.service $(I_MAN8)/tollgate.8 \
		$(I_COMP)/tollgate $(I_SHARE)/prices.yaml; \
	for f in $(I_DATA); do del $(I_SHARE)/$$(basename "$$(dirname "$$f")")/$$(basename "$$f"); done; \
	for f in $(I_EXAMPLES); do del $(I_ETC)/examples/$$f; done; \
	del $(I_ETC)/policy.yaml.dist; \
	if cmp -s policies/default.yaml $(I_ETC)/policy.yaml; then del $(I_ETC)/policy.yaml; \
	elif [ -e $(I_ETC)/policy.yaml ]; then \
		echo "uninstall: kept $(I_ETC)/policy.yaml (it differs from policies/default.yaml)"; fi; \
	for d in $(addprefix $(I_SHARE)/,$(I_DATA_DIRS)) $(I_SHARE) $(I_ETC)/examples $(I_ETC); do \
		[ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; done; \
	[ ! -d $(I_STATE) ] || echo "uninstall: kept $(I_STATE) (the ledger)"
	$(Q)if $(SYSTEMD_LIVE); then systemctl daemon-reload || true; fi

# --- Debian package -----------------------------------------------------------
# make deb: the binary package (and its -dbgsym) in $(BUILD)/deb/, built by
# dpkg-buildpackage (debian/) from a copy of the tree in $(BUILD)/deb/src:
# dpkg-buildpackage writes beside the tree it builds, so nothing lands in
# the tree or its parent.  No tests run (debian/rules); lintian's verdict is
# printed.  Needs DEB_PKGS' debhelper (and lintian for the check).
DEB_OUT = $(BUILD)/deb
deb:
	$(Q)for t in dpkg-buildpackage dh; do command -v $$t >/dev/null || \
		{ echo "deb: $$t is missing (make deps: dpkg-dev, debhelper)" >&2; exit 1; }; done
	$(Q)rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src/tollgate
	$(Q)tar -c --exclude=./.git --exclude=./build --exclude=./$(BUILD) \
		--exclude=./tests/node/node_modules --exclude=__pycache__ \
		--exclude=./debian/build --exclude=./debian/tollgate --exclude=./debian/.debhelper \
		--exclude=./debian/files --exclude='./debian/*.substvars' \
		--exclude=./debian/debhelper-build-stamp -f - . | tar -x -C $(DEB_OUT)/src/tollgate
	$(Q)cd $(DEB_OUT)/src/tollgate && dpkg-buildpackage -b -us -uc -Jauto
	$(Q)mv $(DEB_OUT)/src/*.deb $(DEB_OUT)/src/*.buildinfo $(DEB_OUT)/src/*.changes $(DEB_OUT)/
	$(Q)rm -rf $(DEB_OUT)/src
	$(Q)ls -l $(DEB_OUT)/*.deb
	$(Q)if command -v lintian >/dev/null; then echo "lintian:"; \
		lintian $(DEB_OUT)/tollgate_*.deb | sed 's/^/  /'; fi

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)

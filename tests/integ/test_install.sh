#!/bin/bash
# make install / uninstall and the Debian package (make deb), checked in
# scratch roots: nothing of the real system's /etc, /usr or /var is
# touched.  One PASS/FAIL/SKIP line per check.
#
#   install_destdir       make install DESTDIR=... puts every file in place, modes, owner
#   installed_binary_runs the installed binary: version, prices (found beside it), policy check
#   unit_verify           systemd-analyze verify / security --offline on the installed unit
#   install_keeps_policy  an edited policy.yaml survives make install (policy.yaml.dist beside it)
#   uninstall_destdir     make uninstall removes what install placed, keeps the edited policy and the ledger
#   uninstall_unedited    ... and an unedited policy, with /etc/tollgate
#   deb_build             make deb -> build/deb/tollgate_<version>_<arch>.deb (reused if newer than the sources)
#   deb_contents          dpkg-deb -c: files and modes; dpkg-deb -I: Depends = what the binary links
#   deb_installed_size    Installed-Size
#   deb_lintian           lintian: no error or warning (debian/tollgate.lintian-overrides aside)
#   deb_install_purge     dpkg --root into a scratch root: install, reinstall, remove (keeps the ledger), purge
#
# The package checks need dpkg-buildpackage, debhelper and lintian (make
# deps installs them); without them they SKIP.  TEST_INSTALL_REBUILD=1
# rebuilds the package even when a fresh one is there.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
PREFIX=/usr/local

tmp=$(mktemp -d /tmp/tollgate-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
rc=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; rc=1; }
skip() { echo "SKIP $*"; }
# The last lines of a log, indented, after a FAIL line.
show() { tail -n "${2:-15}" "$1" | sed 's/^/    | /'; }

# --- make install -------------------------------------------------------------
R=$tmp/root
E=$R/etc/tollgate
S=$R$PREFIX/share/tollgate
BIN=$R$PREFIX/sbin/tollgate
UNIT=$R$PREFIX/lib/systemd/system/tollgate.service

# What install must place: "mode path" (paths relative to the root).
expected_install() {
	local f d
	echo "755 ${PREFIX#/}/sbin/tollgate"
	echo "644 ${PREFIX#/}/lib/systemd/system/tollgate.service"
	echo "644 ${PREFIX#/}/share/man/man8/tollgate.8"
	echo "644 ${PREFIX#/}/share/bash-completion/completions/tollgate"
	echo "755 ${PREFIX#/}/share/tollgate"
	echo "644 ${PREFIX#/}/share/tollgate/prices.yaml"
	for f in deploy/grafana/*.json deploy/prometheus/*.yml deploy/kubernetes/*; do
		[ -f "$f" ] || continue
		case "$f" in *.test.yml) continue ;; esac
		d=$(basename "$(dirname "$f")")
		echo "755 ${PREFIX#/}/share/tollgate/$d"
		echo "644 ${PREFIX#/}/share/tollgate/$d/$(basename "$f")"
	done
	echo "755 etc/tollgate"
	echo "644 etc/tollgate/policy.yaml"
	echo "755 etc/tollgate/examples"
	for f in policies/examples/*.yaml; do echo "644 etc/tollgate/examples/$(basename "$f")"; done
	echo "700 var/lib/tollgate"
}

# Every expected path there with its mode, owned by root.  Prints what is
# wrong; status 1 if anything is.
check_tree() {	# $1 = root
	local root=$1 bad=0 mode path got
	while read -r mode path; do
		if [ ! -e "$root/$path" ]; then echo "missing /$path"; bad=1; continue; fi
		got=$(stat -c '%a %U' "$root/$path")
		[ "$got" = "$mode root" ] || { echo "/$path: $got, not $mode root"; bad=1; }
	done < <(expected_install | sort -u)
	return $bad
}

installed=0
if ! make -s BUILD="$BUILD" install DESTDIR="$R" PREFIX=$PREFIX > "$tmp/install.log" 2>&1; then
	fail "install_destdir: make install DESTDIR=$R failed:"
	show "$tmp/install.log"
elif ! check_tree "$R" > "$tmp/tree.txt"; then
	fail "install_destdir: $(wc -l < "$tmp/tree.txt") wrong:"
	show "$tmp/tree.txt" 20
else
	# Nothing else than what was listed (every directory on the way is
	# fine, other files are not).
	extra=$(comm -13 <(expected_install | awk '{print $2}' | sort -u) \
		<(cd "$R" && find . -mindepth 1 ! -type d -printf '%P\n' | sort))
	if [ -n "$extra" ]; then
		fail "install_destdir: unexpected files: $(echo $extra)"
	elif [ -e "$E/policy.yaml.dist" ]; then
		fail "install_destdir: policy.yaml.dist on a fresh install"
	elif ! cmp -s policies/default.yaml "$E/policy.yaml"; then
		fail "install_destdir: policy.yaml is not policies/default.yaml"
	elif grep -q '@[A-Z_]*@' "$UNIT"; then
		fail "install_destdir: unsubstituted variables in the unit: $(grep -o '@[A-Z_]*@' "$UNIT" | sort -u | xargs)"
	elif ! grep -q "^ExecStart=.*$PREFIX/sbin/tollgate" "$UNIT"; then
		fail "install_destdir: the unit's ExecStart does not run $PREFIX/sbin/tollgate"
	else
		installed=1
		pass "install_destdir: $(expected_install | wc -l) paths, modes and owner root, ExecStart=$PREFIX/sbin/tollgate"
	fi
fi

# --- the installed binary -----------------------------------------------------
# A /etc/tollgate/prices.yaml on this machine would come first: hide it in
# a private mount namespace so the lookup beside the binary is what runs.
no_etc_prices() {
	if [ -e /etc/tollgate/prices.yaml ]; then
		unshare -m bash -c 'mount -t tmpfs none /etc/tollgate && exec "$@"' - "$@"
	else
		"$@"
	fi
}
want_version=
command -v dpkg-parsechangelog > /dev/null &&
	want_version=$(dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
want_version=${want_version:-$(sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)}
upstream_version=${want_version%-*}

if [ "$installed" != 1 ]; then
	fail "installed_binary_runs: nothing installed"
else
	why=
	v=$(env -u TOLLGATE_PRICES "$BIN" version 2>&1)
	[ "$v" = "tollgate $upstream_version" ] ||
		why="version printed '$v', debian/changelog says $want_version"
	p=$(unset TOLLGATE_PRICES; no_etc_prices "$BIN" prices 2>&1)
	file=$(printf '%s\n' "$p" | sed -n 's/^file: *//p')
	if [ -z "$why" ] && { [ -z "$file" ] ||
		[ "$(realpath -m "$file")" != "$(realpath "$S/prices.yaml")" ]; }; then
		why="prices did not read $PREFIX/share/tollgate/prices.yaml beside the binary: $(printf '%s\n' "$p" | head -3 | tr '\n' ' ')"
	fi
	if [ -z "$why" ] && ! "$BIN" policy check "$E/policy.yaml" > "$tmp/check.log" 2>&1; then
		why="policy check of the installed policy.yaml failed: $(head -3 "$tmp/check.log" | tr '\n' ' ')"
	fi
	if [ -z "$why" ]; then
		pass "installed_binary_runs: version $upstream_version, prices from ${file#$R}, policy check"
	else
		fail "installed_binary_runs: $why"
	fi
fi

# --- the unit -----------------------------------------------------------------
# systemd-analyze verify loads the unit with its dependencies (the host's
# targets) and wants ExecStart's binary and Documentation=man: page to
# exist: a copy whose ExecStart points into the scratch root is verified,
# with MANPATH on the installed man page.  No running systemd is needed.
if [ "$installed" != 1 ]; then
	fail "unit_verify: nothing installed"
elif ! command -v systemd-analyze > /dev/null; then
	skip "unit_verify: systemd-analyze not installed (Debian package systemd)"
else
	mkdir -p "$tmp/verify"
	sed "s|$PREFIX/sbin/tollgate|$BIN|g" "$UNIT" > "$tmp/verify/tollgate.service"
	if ! out=$(cd "$tmp/verify" && MANPATH=$R$PREFIX/share/man \
		systemd-analyze verify "$tmp/verify/tollgate.service" 2>&1) || [ -n "$out" ]; then
		fail "unit_verify: systemd-analyze verify:"
		printf '%s\n' "$out" | head -15 | sed 's/^/    | /'
	elif ! sec=$(systemd-analyze security --offline=true --root="$R" tollgate.service 2>&1) ||
		! score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for tollgate.service: *\([0-9.]* [A-Z]*\).*/\1/p') ||
		[ -z "$score" ]; then
		fail "unit_verify: systemd-analyze security --offline=true gave no score:"
		printf '%s\n' "$sec" | tail -5 | sed 's/^/    | /'
	else
		pass "unit_verify: verify clean; security --offline exposure $score"
	fi
fi

# --- reinstall over an edited policy ------------------------------------------
if [ "$installed" != 1 ]; then
	fail "install_keeps_policy: nothing installed"
else
	echo "# edited by test_install" >> "$E/policy.yaml"
	cp "$E/policy.yaml" "$tmp/edited.yaml"
	if ! make -s BUILD="$BUILD" install DESTDIR="$R" PREFIX=$PREFIX > "$tmp/install2.log" 2>&1; then
		fail "install_keeps_policy: the second make install failed:"
		show "$tmp/install2.log"
	elif ! cmp -s "$tmp/edited.yaml" "$E/policy.yaml"; then
		fail "install_keeps_policy: the edited policy.yaml was overwritten"
	elif ! cmp -s policies/default.yaml "$E/policy.yaml.dist" ||
		[ "$(stat -c %a "$E/policy.yaml.dist")" != 644 ]; then
		fail "install_keeps_policy: no policy.yaml.dist (0644) with the shipped default beside it"
	elif ! grep -q 'kept.*policy.yaml.dist' "$tmp/install2.log"; then
		fail "install_keeps_policy: make install did not say it kept the policy"
	else
		pass "install_keeps_policy: edit kept, default in policy.yaml.dist; make install said: $(grep -m1 'kept.*policy.yaml.dist' "$tmp/install2.log" | sed "s|$R||g")"
	fi
fi

# --- make uninstall -------------------------------------------------------------
if [ "$installed" != 1 ]; then
	fail "uninstall_destdir: nothing installed"
else
	echo "fake ledger" > "$R/var/lib/tollgate/ledger.db"
	if ! make -s BUILD="$BUILD" uninstall DESTDIR="$R" PREFIX=$PREFIX > "$tmp/uninstall.log" 2>&1; then
		fail "uninstall_destdir: make uninstall failed:"
		show "$tmp/uninstall.log"
	else
		left=$(cd "$R" && find . ! -type d -printf '%P\n' | sort | xargs)
		gone=
		for d in ${PREFIX#/}/share/tollgate etc/tollgate/examples; do
			[ -e "$R/$d" ] && gone="$gone /$d"
		done
		if [ "$left" != "etc/tollgate/policy.yaml var/lib/tollgate/ledger.db" ]; then
			fail "uninstall_destdir: left behind: $left (want the edited policy and the ledger only)"
		elif ! cmp -s "$tmp/edited.yaml" "$E/policy.yaml"; then
			fail "uninstall_destdir: the edited policy changed"
		elif [ -n "$gone" ]; then
			fail "uninstall_destdir: directories left:$gone"
		elif [ "$(stat -c %a "$R/var/lib/tollgate")" != 700 ]; then
			fail "uninstall_destdir: the state directory's mode changed"
		else
			pass "uninstall_destdir: all removed but the edited policy and the state directory with its ledger"
		fi
	fi
fi

R2=$tmp/root2
if ! make -s BUILD="$BUILD" install DESTDIR="$R2" PREFIX=$PREFIX > "$tmp/install3.log" 2>&1 ||
	! make -s BUILD="$BUILD" uninstall DESTDIR="$R2" PREFIX=$PREFIX > "$tmp/uninstall2.log" 2>&1; then
	fail "uninstall_unedited: make install/uninstall DESTDIR=$R2 failed:"
	show "$tmp/install3.log" 5; show "$tmp/uninstall2.log" 5
else
	left=$(cd "$R2" && find . ! -type d -printf '%P\n' | xargs)
	if [ -n "$left" ]; then
		fail "uninstall_unedited: left behind: $left"
	elif [ -e "$R2/etc/tollgate" ]; then
		fail "uninstall_unedited: /etc/tollgate left behind"
	elif [ ! -d "$R2/var/lib/tollgate" ]; then
		fail "uninstall_unedited: the state directory was removed"
	else
		pass "uninstall_unedited: the unchanged policy and /etc/tollgate removed, the state directory kept"
	fi
fi

# --- the Debian package -----------------------------------------------------------
arch=$(dpkg --print-architecture 2>/dev/null)
deb=$BUILD/deb/tollgate_${want_version}_$arch.deb
have_deb=0
missing=
for t in dpkg-buildpackage dh dpkg-deb; do command -v $t > /dev/null || missing="$missing $t"; done
if [ -n "$missing" ]; then
	skip "deb_build: not installed:$missing (make deps: dpkg-dev, debhelper)"
else
	# A package newer than every source is reused (make deb takes ~40 s).
	fresh=0
	if [ "${TEST_INSTALL_REBUILD:-0}" != 1 ] && [ -f "$deb" ] &&
		[ -z "$(find Makefile debian user include bpf policies deploy doc data \
			-newer "$deb" -print -quit 2>/dev/null)" ]; then
		fresh=1
	fi
	if [ "$fresh" = 1 ]; then
		have_deb=1
		pass "deb_build: $deb (reused: newer than the sources)"
	else
		t0=$(date +%s)
		if ! make BUILD="$BUILD" deb > "$tmp/deb.log" 2>&1; then
			fail "deb_build: make deb failed:"
			show "$tmp/deb.log" 25
		elif [ ! -f "$deb" ]; then
			fail "deb_build: make deb made no $deb: $(cd "$BUILD/deb" 2>/dev/null && echo *)"
		else
			have_deb=1
			pass "deb_build: $deb in $(( $(date +%s) - t0 )) s"
		fi
	fi
fi

if [ "$have_deb" != 1 ]; then
	for c in deb_contents deb_installed_size deb_lintian deb_install_purge; do
		skip "$c: no package (deb_build)"
	done
	exit $rc
fi

# Contents: "mode path" of every shipped file and directory.
expected_deb() {
	local f d
	echo "755 usr/sbin/tollgate"
	echo "644 lib/systemd/system/tollgate.service"
	echo "644 usr/share/man/man8/tollgate.8.gz"
	echo "644 usr/share/bash-completion/completions/tollgate"
	echo "644 usr/share/tollgate/prices.yaml"
	for f in deploy/grafana/*.json deploy/prometheus/*.yml deploy/kubernetes/*; do
		[ -f "$f" ] || continue
		case "$f" in *.test.yml) continue ;; esac
		d=$(basename "$(dirname "$f")")
		echo "644 usr/share/tollgate/$d/$(basename "$f")"
	done
	echo "755 etc/tollgate"
	echo "644 etc/tollgate/policy.yaml"
	echo "755 etc/tollgate/examples"
	for f in policies/examples/*.yaml; do echo "644 etc/tollgate/examples/$(basename "$f")"; done
	echo "644 usr/share/doc/tollgate/copyright"
	echo "644 usr/share/doc/tollgate/changelog.Debian.gz"
}
perm() {	# -rwxr-xr-x -> 755
	local s=${1:1:9} n i o=
	for i in 0 3 6; do
		n=0
		[ "${s:i:1}" = r ] && n=$((n + 4))
		[ "${s:i+1:1}" = w ] && n=$((n + 2))
		[ "${s:i+2:1}" = x ] && n=$((n + 1))
		o=$o$n
	done
	echo "$o"
}
dpkg-deb -c "$deb" | while read -r m own _ _ _ path _; do
	path=${path#./}; path=${path%/}
	[ -n "$path" ] && echo "$(perm "$m") $own $path"
done > "$tmp/deb.list"
why=
while read -r mode path; do
	got=$(awk -v p="$path" '$3 == p {print $1, $2}' "$tmp/deb.list")
	[ "$got" = "$mode root/root" ] || why="$why /$path: ${got:-missing};"
done < <(expected_deb)
grep -q ' var/lib/tollgate$' "$tmp/deb.list" &&
	why="$why /var/lib/tollgate is shipped (postinst makes it, 0700);"
bad_mode=$(awk '$1 != "755" && $1 != "644" {print "/" $3 " " $1}' "$tmp/deb.list" | xargs)
[ -n "$bad_mode" ] && why="$why unexpected modes: $bad_mode;"
# Depends: every library the packaged binary needs (NEEDED), through the
# package that ships it here.
depends=$(dpkg-deb -f "$deb" Depends)
dpkg-deb -x "$deb" "$tmp/debx"
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
needed=$(objdump -p "$tmp/debx/usr/sbin/tollgate" 2>/dev/null | awk '$1 == "NEEDED" {print $2}')
[ -n "$needed" ] || why="$why objdump found no NEEDED in usr/sbin/tollgate;"
libpkgs=
for lib in $needed; do
	p=$(dpkg -S "*/$lib" 2>/dev/null | grep "/$multiarch/$lib\$" | head -1 | cut -d: -f1)
	[ -n "$p" ] || { why="$why no package ships $lib;"; continue; }
	libpkgs="$libpkgs $p"
	printf '%s\n' "$depends" | tr ',' '\n' | grep -q "^ *$p\b" ||
		why="$why Depends lacks $p ($lib);"
done
conffiles=$(dpkg-deb -I "$deb" conffiles 2>/dev/null | grep -c '^/etc/tollgate/')
[ "$conffiles" = $((1 + $(ls policies/examples/*.yaml | wc -l))) ] ||
	why="$why conffiles: $conffiles under /etc/tollgate;"
if [ -z "$why" ]; then
	pass "deb_contents: $(wc -l < "$tmp/deb.list") entries, modes as listed, $conffiles conffiles; Depends covers$(echo $libpkgs | tr ' ' '\n' | sort -u | xargs | sed 's/^/ /')"
else
	fail "deb_contents:$why"
fi

size=$(dpkg-deb -f "$deb" Installed-Size)
if [ -n "$size" ] && [ "$size" -gt 0 ] 2>/dev/null; then
	pass "deb_installed_size: Installed-Size $size KiB ($(stat -c %s "$deb") bytes packed)"
else
	fail "deb_installed_size: no Installed-Size"
fi

# lintian: errors and warnings fail (overrides in debian/tollgate.lintian-overrides).
if ! command -v lintian > /dev/null; then
	skip "deb_lintian: lintian not installed (make deps)"
elif ! lintian --fail-on none -I "$deb" > "$tmp/lintian.txt" 2>&1; then
	fail "deb_lintian: lintian did not run:"
	show "$tmp/lintian.txt"
else
	ew=$(grep -c '^[EW]: ' "$tmp/lintian.txt")
	if [ "$ew" != 0 ]; then
		fail "deb_lintian: $ew errors/warnings:"
		grep '^[EW]: ' "$tmp/lintian.txt" | head -20 | sed 's/^/    | /'
	else
		info=$(grep '^I: ' "$tmp/lintian.txt" | awk '{print $3}' | sort -u | xargs)
		pass "deb_lintian: no error or warning${info:+ (info: $info)}"
	fi
fi

# Install, reinstall, remove and purge into a scratch root with dpkg --root:
# an empty dpkg database that knows the libraries the package depends on
# (their entries copied from this system's), so Depends is checked for real;
# the maintainer scripts run outside the root (--force-script-chrootless,
# DPKG_ROOT set: ours and debhelper's honour it), and a policy-rc.d that
# says 101 keeps any service from starting.
D=$tmp/droot
dpkgr() { dpkg --root="$D" --force-script-chrootless "$@" >> "$tmp/dpkg.log" 2>&1; }
mkdir -p "$D/var/lib/dpkg/info" "$D/var/lib/dpkg/updates" "$D/var/lib/dpkg/triggers" "$D/usr/sbin"
: > "$D/var/lib/dpkg/status"
printf '#!/bin/sh\nexit 101\n' > "$D/usr/sbin/policy-rc.d"
chmod 755 "$D/usr/sbin/policy-rc.d"
for p in $(printf '%s\n' "$depends" | tr ',|' '\n\n' | sed 's/(.*//; s/:.*//' | xargs -n1 | sort -u); do
	if dpkg-query -s "$p" > "$tmp/stanza" 2>/dev/null; then
		cat "$tmp/stanza" >> "$D/var/lib/dpkg/status"
		echo >> "$D/var/lib/dpkg/status"
		a=$(dpkg-query -W -f='${Architecture}' "$p")
		: > "$D/var/lib/dpkg/info/$p:$a.list"
		: > "$D/var/lib/dpkg/info/$p.list"
	fi
done
why=
wants=etc/systemd/system/multi-user.target.wants/tollgate.service
if ! dpkgr -i "$deb"; then
	why="dpkg -i failed: $(tail -3 "$tmp/dpkg.log" | tr '\n' ' ')"
else
	while read -r mode path; do
		[ "$(stat -c %a "$D/$path" 2>/dev/null)" = "$mode" ] || why="$why /$path not installed $mode;"
	done < <(expected_deb)
	[ "$(stat -c '%a %U' "$D/var/lib/tollgate" 2>/dev/null)" = "700 root" ] ||
		why="$why postinst did not make /var/lib/tollgate 0700;"
	[ -L "$D/$wants" ] || why="$why not enabled (no /$wants);"
	pf=$(unset TOLLGATE_PRICES; no_etc_prices "$D/usr/sbin/tollgate" prices 2>&1 | sed -n 's/^file: *//p')
	[ "$(realpath -m "$pf")" = "$D/usr/share/tollgate/prices.yaml" ] ||
		why="$why the packaged binary's prices: '${pf:-none}';"
fi
if [ -z "$why" ]; then
	# Upgrade path (same version again): an edited conffile and the ledger stay.
	echo "# edited by test_install" >> "$D/etc/tollgate/policy.yaml"
	cp "$D/etc/tollgate/policy.yaml" "$tmp/dedited.yaml"
	echo "fake ledger" > "$D/var/lib/tollgate/ledger.db"
	if ! dpkgr -i "$deb"; then
		why="reinstall failed: $(tail -3 "$tmp/dpkg.log" | tr '\n' ' ')"
	elif ! cmp -s "$tmp/dedited.yaml" "$D/etc/tollgate/policy.yaml" || [ ! -f "$D/var/lib/tollgate/ledger.db" ]; then
		why="reinstall lost the edited policy or the ledger"
	fi
fi
if [ -z "$why" ]; then
	if ! dpkgr -r tollgate; then
		why="dpkg -r failed: $(tail -3 "$tmp/dpkg.log" | tr '\n' ' ')"
	else
		[ -e "$D/usr/sbin/tollgate" ] && why="$why remove left /usr/sbin/tollgate;"
		[ -e "$D/lib/systemd/system/tollgate.service" ] && why="$why remove left the unit;"
		[ -e "$D/usr/share/tollgate" ] && why="$why remove left /usr/share/tollgate;"
		[ -f "$D/var/lib/tollgate/ledger.db" ] || why="$why remove deleted the ledger;"
		cmp -s "$tmp/dedited.yaml" "$D/etc/tollgate/policy.yaml" || why="$why remove lost the edited policy (a conffile);"
	fi
fi
if [ -z "$why" ]; then
	if ! dpkgr -P tollgate; then
		why="dpkg -P failed: $(tail -3 "$tmp/dpkg.log" | tr '\n' ' ')"
	else
		[ -e "$D/var/lib/tollgate" ] && why="$why purge left /var/lib/tollgate;"
		[ -e "$D/etc/tollgate" ] && why="$why purge left /etc/tollgate;"
		[ -e "$D/$wants" ] && why="$why purge left /$wants;"
		dpkg --root="$D" -s tollgate > /dev/null 2>&1 && why="$why still known to dpkg after purge;"
		left=$(cd "$D" && find . ! -type d ! -path './var/lib/dpkg/*' ! -path ./usr/sbin/policy-rc.d -printf '%P\n' | xargs)
		[ -n "$left" ] && why="$why purge left: $left;"
	fi
fi
if [ -z "$why" ]; then
	pass "deb_install_purge: dpkg --root: installed (enabled, /var/lib/tollgate 0700, prices found), reinstalled (edits kept), removed (ledger and conffiles kept), purged (all gone)"
else
	fail "deb_install_purge:$why"
	show "$tmp/dpkg.log" 10
fi
exit $rc

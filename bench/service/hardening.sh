#!/bin/bash
# Each sandboxing option of tollgate.service, measured: the installed unit
# is started by systemd (tests/integ/lib/service.sh) once as shipped, once
# with no sandbox at all, and once per option changed (a drop-in adds one
# the unit leaves out, or takes out one it has), and each time the agent
# must start, meter a call, block a team at its budget (the hold, ptrace
# and process_vm_readv), do both for another user's processes (OTHER-UID, nobody's:
# its Go client, in a directory only it can read, metered / its python
# client blocked and resumed) and answer `tollgate status`.  Prints, per variant,
# what worked (and whether Prometheus on the host reaches the metrics,
# and the cgroup2 mount stays writable for cgroup.kill), and
# `systemd-analyze security --offline`'s exposure score.
# Run as root: bash bench/service/hardening.sh   (about two minutes)
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
export BUILD
. "$TOP/tests/integ/lib/common.sh"
. "$TOP/tests/integ/lib/service.sh"
pass() { :; }; fail() { echo "FAIL $*"; }; skip() { echo "SKIP $*"; }
if why=$(tg_svc_why_not); then echo "hardening: cannot run: $why"; exit 1; fi
tg_setup || { echo "hardening: provider did not start"; exit 1; }
trap 'tg_svc_stop; tg_teardown' EXIT
tg_svc_install || exit 1
UNITS=$TG_SVC_UNITS
tg_svc_start "$UNITS" || exit 1
sctl() { tg_svc systemctl --user "$@"; }
status() { tg_svc_status "$@"; }

# The whole sandbox of the shipped unit, as a drop-in that clears it.
NONE="CapabilityBoundingSet=~
NoNewPrivileges=no
ProtectSystem=no
ProtectHome=no
PrivateTmp=no
PrivateDevices=no
ProtectClock=no
ProtectHostname=no
ProtectKernelLogs=no
ProtectKernelModules=no
RestrictAddressFamilies=
RestrictNamespaces=no
RestrictRealtime=no
RestrictSUIDSGID=no
LockPersonality=no
SystemCallArchitectures=
KeyringMode=inherit
ProtectKernelTunables=no
ProtectProc=default
PrivateIPC=no
MemoryDenyWriteExecute=no
SystemCallFilter=
SystemCallErrorNumber=
UMask=0022"
CAPS="CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_KILL CAP_DAC_READ_SEARCH"
without_cap() { echo "CapabilityBoundingSet="; echo "CapabilityBoundingSet=$(tr ' ' '\n' <<<"$CAPS" | grep -vx "$1" | tr '\n' ' ')"; }

variants=(
	"as shipped|"
	"no sandbox at all|$NONE"
	"without SystemCallFilter|SystemCallFilter=
SystemCallErrorNumber="
	"SystemCallFilter=@system-service alone|SystemCallFilter=
SystemCallErrorNumber=
SystemCallFilter=@system-service"
	"+ ProtectControlGroups=yes|ProtectControlGroups=yes"
	"+ ProcSubset=pid|ProcSubset=pid"
	"+ PrivateUsers=yes|PrivateUsers=yes"
	"+ PrivateNetwork=yes|PrivateNetwork=yes"
	"+ RestrictAddressFamilies=AF_UNIX only|RestrictAddressFamilies=
RestrictAddressFamilies=AF_UNIX"
	"+ IPAddressDeny=any, IPAddressAllow=localhost|IPAddressDeny=any
IPAddressAllow=localhost"
	"+ User=nobody, AmbientCapabilities= the set|User=nobody
AmbientCapabilities=$CAPS"
	"+ CAP_SYS_ADMIN|CapabilityBoundingSet=
CapabilityBoundingSet=$CAPS CAP_SYS_ADMIN"
	"- CAP_SYS_PTRACE|$(without_cap CAP_SYS_PTRACE)"
	"- CAP_PERFMON|$(without_cap CAP_PERFMON)"
	"- CAP_BPF|$(without_cap CAP_BPF)"
	"- CAP_KILL|$(without_cap CAP_KILL)"
	"- CAP_DAC_READ_SEARCH|$(without_cap CAP_DAC_READ_SEARCH)"
)

CG=$(tg_cgroup_root)
printf '%-58s %-7s %-7s %-7s %-10s %-7s %-8s %-10s %s\n' VARIANT STARTS METERS BLOCKS OTHER-UID STATUS METRICS CGROUP-RW EXPOSURE
for v in "${variants[@]}"; do
	name=${v%%|*} drop=${v#*|}
	sctl stop tollgate.service > /dev/null 2>&1
	sctl reset-failed tollgate.service > /dev/null 2>&1
	rm -rf "$UNITS/tollgate.service.d" "$(tg_svc_path /var/lib/tollgate)"
	if [ -n "$drop" ]; then
		mkdir -p "$UNITS/tollgate.service.d"
		printf '[Service]\n%s\n' "$drop" > "$UNITS/tollgate.service.d/bench.conf"
	fi
	sctl daemon-reload
	# the score of the unit with this drop-in
	mkdir -p "$TG_TMP/score"
	rm -rf "$TG_TMP/score/"*
	cp -r "$UNITS/"* "$TG_TMP/score/"
	score=$(systemd-analyze security --offline=true --root=/ "$TG_TMP/score/tollgate.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for tollgate.service: \([0-9.]* [A-Z]*\).*/\1/p')
	if [ -d "$TG_TMP/score/tollgate.service.d" ]; then
		# --offline reads drop-ins only from the unit path: merge by hand
		cat "$UNITS/tollgate.service" > "$TG_TMP/score/merged.service"
		sed -n '2,$p' "$UNITS/tollgate.service.d/bench.conf" | while IFS= read -r l; do
			k=${l%%=*}
			if [ "${l#*=}" = "" ] || [ "$l" = "CapabilityBoundingSet=~" ]; then
				sed -i "/^$k=/d" "$TG_TMP/score/merged.service"
			else
				sed -i "/^$k=/d" "$TG_TMP/score/merged.service"
				sed -i "/^\[Service\]/a $l" "$TG_TMP/score/merged.service"
			fi
		done
		cp "$TG_TMP/score/merged.service" "$TG_TMP/score/tollgate.service"
		rm -rf "$TG_TMP/score/tollgate.service.d" "$TG_TMP/score/merged.service"
		score=$(systemd-analyze security --offline=true "$TG_TMP/score/tollgate.service" 2>/dev/null |
			sed -n 's/.*Overall exposure level for tollgate.service: \([0-9.]* [A-Z]*\).*/\1/p')
	fi
	starts=no meters=- blocks=- st=- cgrw=- mx=- other=-
	sctl start tollgate.service > /dev/null 2>&1
	for i in $(seq 1 50); do
		status --json > /dev/null 2>&1 && { starts=yes; break; }
		[ "$(sctl is-active tollgate.service)" = failed ] && break
		sleep 0.2
	done
	if [ $starts = yes ]; then
		st=yes
		meters=no blocks=no om=no ob=no
		tg_svc_metering 10 && meters=yes
		tg_svc_blocks capped root && blocks=yes
		# another user's: its Go client in a directory only it can read
		# metered? its python client blocked (and resumed)?
		tg_svc_other_metered && om=yes
		tg_svc_blocks others nobody && ob=yes
		other=$om/$ob
		status > /dev/null 2>&1 || st=no
		# Prometheus, from the host: the endpoint on 127.0.0.1:9464
		mx=no
		curl -sf -m 2 http://127.0.0.1:9464/metrics | grep -q '^tollgate_' && mx=yes
		# kill_scope: cgroup writes cgroup.kill: the cgroup2 mount must stay writable
		pid=$(sctl show -p MainPID --value tollgate.service)
		cgrw=$(awk -v m="$CG" '$5 == m { split($6, o, ","); f = o[1] } END { print f }' "/proc/$pid/mountinfo")
	fi
	printf '%-58s %-7s %-7s %-7s %-10s %-7s %-8s %-10s %s\n' "$name" $starts $meters $blocks $other $st $mx "$cgrw" "${score:-?}"
	[ $starts = no ] && tg_svc journalctl -D /run/log/journal --no-pager -o cat -n 12 2>/dev/null |
		grep -E "^tollgate: error|audit" | tail -2 | cut -c1-160 | sed 's/^/    | /'
done

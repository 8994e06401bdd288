#!/bin/bash
# Which OpenSSL read/write functions a command calls, how often and with
# what sizes: bpftrace uprobes + uretprobes on SSL_write, SSL_write_ex,
# SSL_read, SSL_read_ex of the system libssl.so.3 and of /usr/bin/node
# (node links OpenSSL statically and exports these symbols), counted only for
# processes in a scratch cgroup the command runs in (other TLS users on the
# host, such as the test provider, are left out).
#
#   bench/capture/sslcalls.sh CMD [ARGS...]
#   e.g. bench/capture/sslcalls.sh /usr/bin/python3 tests/integ/clients/py_http.py "$TG_URL" --stream
#
# Prints, per comm and function: calls, and for entry the requested sizes
# (count/avg/total, max), for return the bytes transferred (SSL_read/_write
# return value, or *readbytes / *written for the _ex forms) and the failed
# calls (<= 0, e.g. WANT_READ).  Needs root and bpftrace; mounts tracefs at
# /sys/kernel/tracing if it is missing.  bpftrace's RLIMIT_MEMLOCK warning
# is harmless (the kernel accounts BPF memory to the cgroup).
set -u
[ $# -ge 1 ] || { sed -n '2,20p' "$0"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "sslcalls: needs root" >&2; exit 1; }
command -v bpftrace >/dev/null || { echo "sslcalls: bpftrace not installed (apt-get install bpftrace)" >&2; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null

LIBSSL=${LIBSSL:-$(ls /lib/x86_64-linux-gnu/libssl.so.3 /usr/lib64/libssl.so.3 /usr/lib/libssl.so.3 2>/dev/null | head -n 1)}
NODE=${NODE:-/usr/bin/node}
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cgroot" ] || { echo "sslcalls: no cgroup2 mount" >&2; exit 1; }
cg=$cgroot/tollgate-sslcalls.$$
mkdir "$cg" || exit 1
tmp=$(mktemp -d /tmp/tollgate-sslcalls.XXXXXX)
cleanup() { rmdir "$cg" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

targets=()
[ -n "$LIBSSL" ] && targets+=("$LIBSSL")
[ -x "$NODE" ] && nm -D "$NODE" 2>/dev/null | grep -q ' T SSL_write$' && targets+=("$NODE")

probes() {	# $1 = uprobe|uretprobe, $2 = function
	local t sep=""
	for t in "${targets[@]}"; do printf '%s%s:%s:%s' "$sep" "$1" "$t" "$2"; sep=$',\n'; done
}

cat > "$tmp/prog.bt" <<EOF
$(probes uprobe SSL_write),
$(probes uprobe SSL_read)
/cgroup == cgroupid("$cg")/
{ @calls[comm, probe] = count(); @req[comm, probe] = stats(arg2); @reqmax[comm, probe] = max(arg2); }

$(probes uprobe SSL_write_ex),
$(probes uprobe SSL_read_ex)
/cgroup == cgroupid("$cg")/
{ @calls[comm, probe] = count(); @req[comm, probe] = stats(arg2); @reqmax[comm, probe] = max(arg2);
  @outp[tid] = arg3; }

$(probes uretprobe SSL_write),
$(probes uretprobe SSL_read)
/cgroup == cgroupid("$cg")/
{ if ((int32)retval > 0) { @done[comm, probe] = stats((int32)retval); }
  else { @failed[comm, probe] = count(); } }

$(probes uretprobe SSL_write_ex),
$(probes uretprobe SSL_read_ex)
/cgroup == cgroupid("$cg")/
{ if (retval == 1) { @done[comm, probe] = stats(*(uint64 *)@outp[tid]); }
  else { @failed[comm, probe] = count(); }
  delete(@outp[tid]); }

END { clear(@outp); }
EOF

# The command runs as bpftrace's child (-c), inside the scratch cgroup, and
# bpftrace exits when it does.
printf '%q ' "$@" > "$tmp/cmd.sh"
sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" \
	bpftrace -c "/bin/bash $tmp/cmd.sh" "$tmp/prog.bt" > "$tmp/bt.out" 2> "$tmp/bt.err"
rc=$?
grep -v -e RLIMIT_MEMLOCK -e '^Attaching' -e '^$' "$tmp/bt.err" >&2
echo "# calls: requested sizes (@req, @reqmax), bytes done (@done), failed calls (@failed)"
grep -v -e '^Attaching' -e '^$' "$tmp/bt.out" |
	sed -E 's#u(ret)?probe:[^,]*/([^/:,]+):(SSL_[a-z_]+)#\2:\3#'
exit $rc

#!/bin/bash
# PID 1 of the User-Mode Linux guest started by scripts/uml.mjs.
#
# scripts/uml.mjs copies this file into a fresh per-boot job folder J on the host
# and boots `linux.uml ... init=J/init.sh` with the host's / as the guest's root
# (hostfs), so J is the same path inside and outside. J holds:
#   config.sh  written by uml.mjs: KVER, MODULES_DIR, MODPROBE, PRELOAD, MERGE
#   cmd.sh     the command to run: its environment, working folder and argv
# and this script writes back:
#   out, err   the command's stdout and stderr (the host streams them as they grow)
#   status     the command's exit status (absent = the guest died before the end)
#
# Must stay bash (Debian's busybox sh prefers its own applets, e.g. `ip`, to $PATH).

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
J=${0%/*}

log() { echo "uml-init: $*"; }                  # goes to the console (shown on failure)
fail() { log "$*"; echo "uml: $*" >>"$J/err"; halt 125; }
halt() {
  echo "$1" >"$J/status.tmp" && mv -f "$J/status.tmp" "$J/status"
  sync
  echo o >/proc/sysrq-trigger
  # PID 1 must not exit (that panics the kernel); power-off is asynchronous.
  while :; do sleep 60; done
}

: >"$J/out"
: >"$J/err"

mount -t proc proc /proc || fail "cannot mount /proc"
mount -t sysfs sysfs /sys || fail "cannot mount /sys"
mount -t tmpfs -o mode=0755 tmpfs /run || fail "cannot mount a tmpfs on /run"
# /dev is the guest's devtmpfs (mounted by the kernel); pseudo-terminals
# (tmux, node-pty in tests) need a devpts beside it.
mkdir -p /dev/pts && mount -t devpts -o ptmxmode=0666 devpts /dev/pts 2>/dev/null
mkdir -p /run/netns
# Kernel messages stay on the console, never in the command's output.
dmesg -n 1 2>/dev/null

# shellcheck source=/dev/null
. "$J/config.sh" || fail "cannot read $J/config.sh"

# /lib/modules does not exist on the host: give modprobe a root of its own.
mkdir -p "$J/modroot/lib/modules" &&
  ln -sfn "$MODULES_DIR" "$J/modroot/lib/modules/$KVER" ||
  fail "cannot set up the module folder"
printf '#!/bin/bash\nexec %q -d %q "$@"\n' "$MODPROBE" "$J/modroot" >"$J/modprobe" &&
  chmod 0755 "$J/modprobe" || fail "cannot write the modprobe wrapper"
# The kernel's own module requests (an unknown scheduler "mh" -> ip_vs_mh,
# "ip link add type veth" -> veth, ...) go through the wrapper, as on a real host.
echo "$J/modprobe" >/proc/sys/kernel/modprobe || fail "cannot set kernel.modprobe"

ip link set lo up || fail "cannot bring lo up (is iproute2 installed?)"
hostname ipvs-uml 2>/dev/null

"$J/modprobe" ip_vs || fail "cannot load ip_vs from $MODULES_DIR"
# One modprobe for all (every process start is slow in UML); then report misses.
# shellcheck disable=SC2086
"$J/modprobe" -a $PRELOAD 2>/dev/console
for m in $PRELOAD; do
  [ -e "/sys/module/$m" ] || echo "uml: warning: cannot load module $m" >>"$J/err"
done
[ -e /proc/net/ip_vs ] || fail "ip_vs loaded but /proc/net/ip_vs is missing"

log "running the command"
# env -i: the kernel hands its unknown command-line words (mem=...) to init's environment.
if [ "${MERGE:-0}" = 1 ]; then
  env -i /bin/bash "$J/cmd.sh" </dev/null >>"$J/out" 2>&1
else
  env -i /bin/bash "$J/cmd.sh" </dev/null >>"$J/out" 2>>"$J/err"
fi
rc=$?
log "command exited with status $rc"
halt "$rc"

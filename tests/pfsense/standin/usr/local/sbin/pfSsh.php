#!/bin/sh
# STAND-IN for pfSense's pfSsh.php (tests only; the real one is PHP): `playback installpkg NAME`
# runs pfSense-upgrade -y -i pfSense-pkg-NAME and, like the real playback, exits 0 either way.
root=$(cd "$(dirname "$0")/../../.." && pwd)
echo "pfSsh.php $*" >>"$root/_standin/calls.log"
if [ "$1" = playback ] && [ "$2" = installpkg ] && [ -n "${3:-}" ]; then
	printf 'Installing package "%s"... ' "$3"
	if "$root/usr/local/sbin/pfSense-upgrade" -y -i "pfSense-pkg-$3" >/dev/null 2>&1; then
		echo "Done."
	else
		echo "Failed."
	fi
	exit 0
fi
echo "stand-in pfSsh.php: unsupported: $*" >&2
exit 64

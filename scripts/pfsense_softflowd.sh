#!/bin/sh
# pfsense_softflowd.sh: make pfSense's softflowd package export NetFlow to the netviz collector,
# or stop it exporting. Runs ON pfSense (FreeBSD /bin/sh, POSIX only), as root/admin.
#
#   pfsense_softflowd.sh enable --collector-ip IP --collector-port PORT --interfaces lan,opt1
#       [--version 9] [--tracking full] [--maxflows N] [--timeout-general S]
#       [--timeout-maxlife S] [--timeout-expint S] [--timeout-tcp S] [--timeout-tcp-rst S]
#       [--timeout-tcp-fin S] [--timeout-udp S] [--wait S]
#   pfsense_softflowd.sh disable [--wait S]
#
# enable: checks every argument, then that each interface is assigned on this pfSense; installs
#   pfSense-pkg-softflowd when it is missing; writes the package's settings
#   (installedpackages/softflowd/config/0) through pfSense's own config API with write_config(),
#   so the change is listed under Diagnostics > Backup & Restore > Config History and can be
#   reverted there; applies them with the package's sync_package_softflowd(); then checks that
#   exactly one softflowd runs per interface, sending NetFlow of the given version to IP:PORT.
#   When the settings already match, nothing is written (no config history entry) and softflowd
#   is restarted only if the check finds it not running as wanted.
# disable: sets the package's "Enable" to Disabled (other settings kept, so the GUI can turn it
#   back on), writes and applies that, and checks that no softflowd runs. Writes nothing when the
#   package is absent or already disabled. The package stays installed.
#
# Interface order matters: the package numbers interfaces 1, 2, ... in the order given, and
# softflowd reports that number as the NetFlow interface index (INPUT_SNMP/OUTPUT_SNMP).
# The script manages these package keys: enable, interface, host, port, version, flowtracking,
# maxflows and timeout-general/-maxlife/-expint/-tcp/-tcp-rst/-tcp-fin/-udp; maxflows or a timeout
# left out is removed (softflowd's default applies). Other package keys (sample, hoplimit,
# flowtimestamp) and the rest of config.xml are left as they are.
#
# Exit status: 0 done (or nothing to do), 2 bad arguments or this pfSense cannot take them
# (nothing changed), 1 failed while changing or checking (message says what and where).
#
# Test hooks, never needed on pfSense: NETVIZ_PFSENSE_ROOT prefixes every pfSense path (a
# stand-in root in the tests); NETVIZ_PHP names the PHP binary (default /usr/local/bin/php).

set -u

PROG=pfsense_softflowd
ROOT=${NETVIZ_PFSENSE_ROOT:-}
PHP=${NETVIZ_PHP:-$ROOT/usr/local/bin/php}
PKG=$ROOT/usr/local/sbin/pkg
PFSSH=$ROOT/usr/local/sbin/pfSsh.php
PS=$ROOT/bin/ps
CONFIG_INC=$ROOT/etc/inc/config.inc
SOFTFLOWD_INC=$ROOT/usr/local/pkg/softflowd.inc
PACKAGE=pfSense-pkg-softflowd

TMPDIR_NETVIZ=""

say() {
	printf '%s: %s\n' "$PROG" "$1"
}

warn() {
	printf '%s: warning: %s\n' "$PROG" "$1" >&2
}

# Bad input: nothing has been changed.
usage_error() {
	printf '%s: error: %s\n' "$PROG" "$1" >&2
	printf '%s: nothing was changed. Run "%s --help" for usage.\n' "$PROG" "$0" >&2
	exit 2
}

# Failure after checks passed: say what failed.
fail() {
	printf '%s: FAILED: %s\n' "$PROG" "$1" >&2
	exit 1
}

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
}

# private FILE: creates (or empties) one of the script's own temporary files, readable by the
# owner only. The umask is set only here (in a subshell): everything else the script runs, PHP's
# write_config() (config.xml and its backups) and the package's sync included, keeps the caller's
# umask, as when the same settings are saved in the GUI.
private() {
	(umask 077 && : >"$1")
}

cleanup() {
	if [ -n "$TMPDIR_NETVIZ" ] && [ -d "$TMPDIR_NETVIZ" ]; then
		rm -rf "$TMPDIR_NETVIZ"
	fi
}

# ---------------------------------------------------------------- checks on single values

# A whole number without sign or leading zero, at most 2147483647.
is_uint() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	0) return 0 ;;
	0*) return 1 ;;
	esac
	[ "${#1}" -le 10 ] && [ "$1" -le 2147483647 ]
}

is_ipv4() {
	case $1 in
	*[!0-9.]* | .* | *. | *..*) return 1 ;;
	esac
	old_ifs=$IFS
	IFS=.
	# shellcheck disable=SC2086 # splitting on dots is the point
	set -- $1
	IFS=$old_ifs
	[ "$#" -eq 4 ] || return 1
	for octet in "$@"; do
		is_uint "$octet" && [ "$octet" -le 255 ] || return 1
	done
	return 0
}

# Form only; pfSense's is_ipaddr() checks it fully before anything changes.
looks_ipv6() {
	case $1 in
	*:*) ;;
	*) return 1 ;;
	esac
	case $1 in
	*[!0-9A-Fa-f:.]*) return 1 ;;
	esac
	[ "${#1}" -le 45 ]
}

is_pfsense_interface() {
	case $1 in
	wan | lan) return 0 ;;
	opt[1-9] | opt[1-9][0-9] | opt[1-9][0-9][0-9]) return 0 ;;
	esac
	return 1
}

# ---------------------------------------------------------------- arguments

MODE=""
COLLECTOR_IP=""
COLLECTOR_PORT=""
INTERFACES=""
NF_VERSION=9
TRACKING=full
MAXFLOWS=""
T_GENERAL=""
T_MAXLIFE=""
T_EXPINT=""
T_TCP=""
T_TCP_RST=""
T_TCP_FIN=""
T_UDP=""
WAIT=15
SEEN=" "

parse_args() {
	if [ "$#" -eq 0 ]; then
		usage_error "missing mode: the first argument must be 'enable' or 'disable'"
	fi
	case $1 in
	enable | disable) MODE=$1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown mode '$1': the first argument must be 'enable' or 'disable'" ;;
	esac
	shift
	while [ "$#" -gt 0 ]; do
		opt=$1
		case $opt in
		--*=*)
			value=${opt#*=}
			opt=${opt%%=*}
			shift
			;;
		--*)
			if [ "$#" -lt 2 ]; then
				usage_error "$opt: a value is required"
			fi
			value=$2
			shift 2
			;;
		*) usage_error "unexpected argument '$opt' (options start with --)" ;;
		esac
		case $SEEN in
		*" $opt "*) usage_error "$opt: given more than once" ;;
		esac
		SEEN="$SEEN$opt "
		if [ "$MODE" = disable ] && [ "$opt" != --wait ]; then
			usage_error "$opt: not accepted by 'disable' (only --wait is)"
		fi
		case $opt in
		--collector-ip) COLLECTOR_IP=$value ;;
		--collector-port) COLLECTOR_PORT=$value ;;
		--interfaces) INTERFACES=$value ;;
		--version) NF_VERSION=$value ;;
		--tracking) TRACKING=$value ;;
		--maxflows) MAXFLOWS=$value ;;
		--timeout-general) T_GENERAL=$value ;;
		--timeout-maxlife) T_MAXLIFE=$value ;;
		--timeout-expint) T_EXPINT=$value ;;
		--timeout-tcp) T_TCP=$value ;;
		--timeout-tcp-rst) T_TCP_RST=$value ;;
		--timeout-tcp-fin) T_TCP_FIN=$value ;;
		--timeout-udp) T_UDP=$value ;;
		--wait) WAIT=$value ;;
		*) usage_error "unknown option '$opt'" ;;
		esac
	done
}

check_args() {
	if ! is_uint "$WAIT" || [ "$WAIT" -lt 1 ] || [ "$WAIT" -gt 600 ]; then
		usage_error "--wait: must be a whole number of seconds between 1 and 600, but '$WAIT' was given"
	fi
	[ "$MODE" = enable ] || return 0

	for required in --collector-ip --collector-port --interfaces; do
		given "$required" || usage_error "$required: required by 'enable' but not given"
	done

	if [ "$COLLECTOR_IP" = 0.0.0.0 ] || [ "$COLLECTOR_IP" = 255.255.255.255 ]; then
		usage_error "--collector-ip: must be the collector's address, but '$COLLECTOR_IP' was given"
	fi
	if ! is_ipv4 "$COLLECTOR_IP" && ! looks_ipv6 "$COLLECTOR_IP"; then
		usage_error "--collector-ip: must be an IPv4 address such as 10.0.20.100 (or an IPv6 address), but '$COLLECTOR_IP' was given"
	fi
	if ! is_uint "$COLLECTOR_PORT" || [ "$COLLECTOR_PORT" -lt 1 ] || [ "$COLLECTOR_PORT" -gt 65535 ]; then
		usage_error "--collector-port: must be a port between 1 and 65535, but '$COLLECTOR_PORT' was given"
	fi

	case $INTERFACES in
	'' | ,* | *, | *,,* | *[!a-z0-9,]*)
		usage_error "--interfaces: must be pfSense interface names separated by commas, such as lan,opt1, but '$INTERFACES' was given"
		;;
	esac
	old_ifs=$IFS
	IFS=,
	listed=" "
	for ifname in $INTERFACES; do
		if ! is_pfsense_interface "$ifname"; then
			IFS=$old_ifs
			usage_error "--interfaces: '$ifname' is not a pfSense interface name (wan, lan or optN, as in Interfaces > Assignments), in '$INTERFACES'"
		fi
		case $listed in
		*" $ifname "*)
			IFS=$old_ifs
			usage_error "--interfaces: '$ifname' is listed twice in '$INTERFACES'"
			;;
		esac
		listed="$listed$ifname "
	done
	IFS=$old_ifs

	case $NF_VERSION in
	5 | 9 | 10) ;;
	*) usage_error "--version: must be 9 (NetFlow v9, the default), 10 (IPFIX) or 5 (NetFlow v5), but '$NF_VERSION' was given" ;;
	esac
	case $TRACKING in
	full | proto | ip | vlan | ether) ;;
	*) usage_error "--tracking: must be one of full (the default), proto, ip, vlan, ether, but '$TRACKING' was given" ;;
	esac
	if given --maxflows && { ! is_uint "$MAXFLOWS" || [ "$MAXFLOWS" -lt 1 ]; }; then
		usage_error "--maxflows: must be a whole number of flows above 0, but '$MAXFLOWS' was given"
	fi
	check_seconds --timeout-general "$T_GENERAL"
	check_seconds --timeout-maxlife "$T_MAXLIFE"
	check_seconds --timeout-expint "$T_EXPINT"
	check_seconds --timeout-tcp "$T_TCP"
	check_seconds --timeout-tcp-rst "$T_TCP_RST"
	check_seconds --timeout-tcp-fin "$T_TCP_FIN"
	check_seconds --timeout-udp "$T_UDP"
}

given() {
	case $SEEN in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

check_seconds() {
	if given "$1" && ! is_uint "$2"; then
		usage_error "$1: must be a whole number of seconds (0 or more), but '$2' was given"
	fi
}

# ---------------------------------------------------------------- pfSense, through its PHP

# The PHP half. Reads its inputs from NETVIZ_SF_* variables, writes machine-readable lines to
# the file NETVIZ_SF_RESULT, messages to stderr. Exit 2: pfSense cannot take the inputs
# (nothing changed); exit 1: failure.
# Actions: preflight (read only), apply, restart, disable.
php_program() {
	cat <<'PHP'
<?php
ini_set('display_errors', 'stderr');
$root = (string)getenv('NETVIZ_SF_ROOT');
if ($root !== '') {
	set_include_path($root . '/etc/inc' . PATH_SEPARATOR . $root . '/usr/local/pkg' . PATH_SEPARATOR . get_include_path());
}
require_once('globals.inc');
require_once('config.inc');
require_once('util.inc');

define('NETVIZ_PATH', 'installedpackages/softflowd/config/0');
$netviz_lines = array();

function netviz_env($name) {
	$v = getenv('NETVIZ_SF_' . $name);
	return ($v === false) ? '' : (string)$v;
}

function netviz_result($line) {
	global $netviz_lines;
	$netviz_lines[] = $line;
	file_put_contents(netviz_env('RESULT'), implode("\n", $netviz_lines) . "\n");
}

function netviz_stop($message, $code) {
	fwrite(STDERR, "pfsense_softflowd: " . ($code == 2 ? "error: " : "FAILED: ") . $message . "\n");
	exit($code);
}

/* pfSense 2.7+ has config_get_path()/config_set_path(); older releases only the $config array. */
function netviz_get($path) {
	global $config;
	if (function_exists('config_get_path')) {
		return config_get_path($path, null);
	}
	$node = $config;
	foreach (explode('/', $path) as $key) {
		if (!is_array($node) || !array_key_exists($key, $node)) {
			return null;
		}
		$node = $node[$key];
	}
	return $node;
}

function netviz_set_softflowd($settings) {
	global $config;
	if (function_exists('config_set_path')) {
		return config_set_path(NETVIZ_PATH, $settings) !== null;
	}
	$node = &$config;
	foreach (array('installedpackages', 'softflowd', 'config') as $key) {
		if (!isset($node[$key]) || $node[$key] === '') {
			$node[$key] = array();
		} elseif (!is_array($node[$key])) {
			return false;
		}
		$node = &$node[$key];
	}
	$node[0] = $settings;
	return true;
}

function netviz_current() {
	$current = netviz_get(NETVIZ_PATH);
	return is_array($current) ? $current : array();
}

/* Same keys, same values, compared as strings ("0300" is not "300"). */
function netviz_same($a, $b) {
	if (count($a) != count($b)) {
		return false;
	}
	foreach ($a as $k => $v) {
		if (!array_key_exists($k, $b)) {
			return false;
		}
		if (is_array($v) || is_array($b[$k])) {
			if (!is_array($v) || !is_array($b[$k]) || !netviz_same($v, $b[$k])) {
				return false;
			}
		} elseif ((string)$v !== (string)$b[$k]) {
			return false;
		}
	}
	return true;
}

function netviz_load_package() {
	global $root;
	$inc = $root . '/usr/local/pkg/softflowd.inc';
	if (!file_exists($inc)) {
		return false;
	}
	require_once($inc);
	if (!function_exists('sync_package_softflowd')) {
		netviz_stop("{$inc} does not define sync_package_softflowd(); this version of pfSense-pkg-softflowd is not supported", 1);
	}
	return true;
}

function netviz_write($description) {
	$written = write_config($description);
	if ($written === false || $written === -1) {
		netviz_stop("write_config() did not save config.xml (see System > General Log)", 1);
	}
}

$action = netviz_env('ACTION');

if ($action == 'preflight') {
	global $g;
	$conf = (isset($g['cf_conf_path']) ? $g['cf_conf_path'] : '/cf/conf') . '/config.xml';
	if (!is_writable($conf)) {
		netviz_stop("{$conf} is not writable by this user; run as root (the admin account)", 2);
	}
	$host = netviz_env('HOST');
	if ($host !== '' && !is_ipaddr($host)) {
		netviz_stop("--collector-ip: pfSense does not accept '{$host}' as an IP address", 2);
	}
	$assigned = netviz_get('interfaces');
	$assigned = is_array($assigned) ? array_keys($assigned) : array();
	$wanted = (netviz_env('INTERFACES') === '') ? array() : explode(',', netviz_env('INTERFACES'));
	if (count($wanted) > 0) {
		require_once('interfaces.inc');
	}
	$index = 1;
	foreach ($wanted as $ifname) {
		$ifcfg = netviz_get("interfaces/{$ifname}");
		if (!is_array($ifcfg)) {
			netviz_stop("--interfaces: '{$ifname}' is not assigned on this pfSense (assigned: " . implode(', ', $assigned) . ")", 2);
		}
		$real = get_real_interface($ifname);
		if (empty($real)) {
			netviz_stop("--interfaces: pfSense has no network device for '{$ifname}'", 2);
		}
		if (!isset($ifcfg['enable'])) {
			fwrite(STDERR, "pfsense_softflowd: warning: interface '{$ifname}' ({$real}) is not enabled in pfSense; softflowd may see no traffic there\n");
		}
		netviz_result("realif {$index} {$ifname} {$real}");
		$index++;
	}
	netviz_result('package ' . (file_exists($root . '/usr/local/pkg/softflowd.inc') ? 'installed' : 'missing'));
	exit(0);
}

if ($action == 'apply') {
	if (!netviz_load_package()) {
		netviz_stop("pfSense-pkg-softflowd is not installed (/usr/local/pkg/softflowd.inc is missing)", 1);
	}
	$current = netviz_current();
	$wanted = $current;
	$wanted['enable'] = 'enabled';
	$wanted['interface'] = netviz_env('INTERFACES');
	$wanted['host'] = netviz_env('HOST');
	$wanted['port'] = netviz_env('PORT');
	$wanted['version'] = netviz_env('VERSION');
	$wanted['flowtracking'] = netviz_env('TRACKING');
	$optional = array(
		'maxflows' => 'MAXFLOWS',
		'timeout-general' => 'TIMEOUT_GENERAL',
		'timeout-maxlife' => 'TIMEOUT_MAXLIFE',
		'timeout-expint' => 'TIMEOUT_EXPINT',
		'timeout-tcp' => 'TIMEOUT_TCP',
		'timeout-tcp-rst' => 'TIMEOUT_TCP_RST',
		'timeout-tcp-fin' => 'TIMEOUT_TCP_FIN',
		'timeout-udp' => 'TIMEOUT_UDP',
	);
	foreach ($optional as $key => $env) {
		$value = netviz_env($env);
		if ($value !== '') {
			$wanted[$key] = $value;
		} elseif (isset($wanted[$key]) && (string)$wanted[$key] !== '') {
			unset($wanted[$key]);
		}
	}
	if (netviz_same($wanted, $current)) {
		netviz_result('changed no');
		exit(0);
	}
	if (!netviz_set_softflowd($wanted)) {
		netviz_stop("config.xml has something other than a list at installedpackages/softflowd/config; fix it in the GUI first", 1);
	}
	$port = netviz_env('PORT');
	$host = netviz_env('HOST');
	netviz_write("netviz: softflowd exports NetFlow v" . netviz_env('VERSION') . " to {$host}:{$port} from " . netviz_env('INTERFACES') . " (pfsense_softflowd.sh enable)");
	sync_package_softflowd();
	netviz_result('changed yes');
	exit(0);
}

if ($action == 'restart') {
	if (!netviz_load_package()) {
		netviz_stop("pfSense-pkg-softflowd is not installed (/usr/local/pkg/softflowd.inc is missing)", 1);
	}
	sync_package_softflowd();
	exit(0);
}

if ($action == 'disable') {
	if (!netviz_load_package()) {
		netviz_result('package missing');
		exit(0);
	}
	netviz_result('package installed');
	$current = netviz_current();
	if (count($current) == 0 || (isset($current['enable']) && $current['enable'] == 'off')) {
		netviz_result('changed no');
		exit(0);
	}
	$wanted = $current;
	$wanted['enable'] = 'off';
	if (!netviz_set_softflowd($wanted)) {
		netviz_stop("config.xml has something other than a list at installedpackages/softflowd/config; fix it in the GUI first", 1);
	}
	netviz_write("netviz: softflowd NetFlow export disabled (pfsense_softflowd.sh disable)");
	sync_package_softflowd();
	netviz_result('changed yes');
	exit(0);
}

netviz_stop("unknown action '{$action}'", 1);
PHP
}

# run_php ACTION: runs the PHP half; its result lines end up in $RESULT.
run_php() {
	RESULT=$TMPDIR_NETVIZ/result.$1
	private "$RESULT"
	private "$TMPDIR_NETVIZ/netviz_softflowd.php"
	php_program >"$TMPDIR_NETVIZ/netviz_softflowd.php"
	NETVIZ_SF_ACTION=$1 \
		NETVIZ_SF_ROOT=$ROOT \
		NETVIZ_SF_RESULT=$RESULT \
		NETVIZ_SF_HOST=$COLLECTOR_IP \
		NETVIZ_SF_PORT=$COLLECTOR_PORT \
		NETVIZ_SF_INTERFACES=$INTERFACES \
		NETVIZ_SF_VERSION=$NF_VERSION \
		NETVIZ_SF_TRACKING=$TRACKING \
		NETVIZ_SF_MAXFLOWS=$MAXFLOWS \
		NETVIZ_SF_TIMEOUT_GENERAL=$T_GENERAL \
		NETVIZ_SF_TIMEOUT_MAXLIFE=$T_MAXLIFE \
		NETVIZ_SF_TIMEOUT_EXPINT=$T_EXPINT \
		NETVIZ_SF_TIMEOUT_TCP=$T_TCP \
		NETVIZ_SF_TIMEOUT_TCP_RST=$T_TCP_RST \
		NETVIZ_SF_TIMEOUT_TCP_FIN=$T_TCP_FIN \
		NETVIZ_SF_TIMEOUT_UDP=$T_UDP \
		"$PHP" -f "$TMPDIR_NETVIZ/netviz_softflowd.php" </dev/null
}

result_has() {
	grep -qx "$1" "$RESULT"
}

# ---------------------------------------------------------------- package

package_installed() {
	[ -f "$SOFTFLOWD_INC" ] && "$PKG" info -e "$PACKAGE" >/dev/null 2>&1
}

ensure_package() {
	if package_installed; then
		return 0
	fi
	say "installing $PACKAGE (pfSsh.php playback installpkg softflowd)"
	"$PFSSH" playback installpkg softflowd </dev/null || true
	if ! package_installed; then
		fail "$PACKAGE did not install (does pfSense reach its package repository? try System > Package Manager > Available Packages)"
	fi
	say "$PACKAGE installed"
}

# ---------------------------------------------------------------- what runs

# One line per running softflowd: "pid device index target version" ('-' when unknown).
# The device comes from the control socket, -c /var/run/softflowd.<device>.ctl, which the package
# always passes and softflowd never changes. The -i value is NOT reliable: softflowd splits
# "-i N:device" in place (strsep on ':'), and FreeBSD's ps shows that live argv, "-i N", whenever
# the command line is too long for the kernel's argument cache (kern.ps_arg_cache_limit, 256
# bytes including NULs and a 12-byte header): with maxflows, all seven timeouts and the GUI's
# timestamp option it is. So the index is read from "-i N:device" or "-i N", and the device from
# "-i device" or "-i N:device" only when there is no -c naming one (a softflowd started by hand).
softflowd_processes() {
	"$PS" -axww -o pid= -o command= 2>/dev/null | awk '
	{
		n = split($2, path, "/")
		if (path[n] != "softflowd") next
		i = ""; c = ""; h = "-"; v = "-"
		for (k = 3; k < NF; k++) {
			if ($k == "-i") i = $(k + 1)
			else if ($k == "-c") c = $(k + 1)
			else if ($k == "-n") h = $(k + 1)
			else if ($k == "-v") v = $(k + 1)
		}
		dev = "-"; index_ = "-"
		m = split(c, cpath, "/")
		if (m > 0 && cpath[m] ~ /^softflowd\..+\.ctl$/) {
			dev = substr(cpath[m], 11, length(cpath[m]) - 14)
		}
		colon = index(i, ":")
		if (colon > 0) {
			if (colon > 1) index_ = substr(i, 1, colon - 1)
			if (dev == "-" && colon < length(i)) dev = substr(i, colon + 1)
		} else if (i ~ /^[0-9]+$/) {
			index_ = i
		} else if (i != "" && dev == "-") {
			dev = i
		}
		print $1, dev, index_, h, v
	}'
}

expected_target() {
	case $COLLECTOR_IP in
	*:*) printf '[%s]:%s' "$COLLECTOR_IP" "$COLLECTOR_PORT" ;;
	*) printf '%s:%s' "$COLLECTOR_IP" "$COLLECTOR_PORT" ;;
	esac
}

# Compares what runs with what is wanted; problems go to $PROBLEMS (empty: all good).
check_running() {
	procs=$TMPDIR_NETVIZ/procs
	private "$procs"
	softflowd_processes >"$procs"
	PROBLEMS=""
	target=$(expected_target)
	matched=0
	while read -r index ifname realif; do
		count=0
		while read -r pid device pindex host version; do
			[ "$device" = "$realif" ] || continue
			count=$((count + 1))
			if [ "$pindex" != - ] && [ "$pindex" != "$index" ]; then
				PROBLEMS="$PROBLEMS
  softflowd (pid $pid) on $ifname ($realif) reports interface index $pindex, expected $index"
			fi
			if [ "$host" != "$target" ]; then
				[ "$host" = - ] && host="nowhere (no -n)"
				PROBLEMS="$PROBLEMS
  softflowd (pid $pid) on $ifname ($realif) sends to $host, expected $target"
			fi
			if [ "$version" != "$NF_VERSION" ]; then
				[ "$version" = - ] && version="5 (no -v: softflowd's default)"
				PROBLEMS="$PROBLEMS
  softflowd (pid $pid) on $ifname ($realif) exports NetFlow v$version, expected v$NF_VERSION"
			fi
		done <"$procs"
		if [ "$count" -eq 0 ]; then
			PROBLEMS="$PROBLEMS
  no softflowd runs on $ifname ($realif)"
		elif [ "$count" -gt 1 ]; then
			PROBLEMS="$PROBLEMS
  $count softflowd instances run on $ifname ($realif), expected 1"
		fi
		matched=$((matched + count))
	done <"$TMPDIR_NETVIZ/interfaces"
	total=$(wc -l <"$procs" | tr -d ' ')
	if [ "$total" -gt "$matched" ]; then
		PROBLEMS="$PROBLEMS
  $((total - matched)) softflowd instance(s) run on interfaces not listed in --interfaces"
	fi
	[ -z "$PROBLEMS" ]
}

# wait_until CHECK: retries CHECK once a second for up to $WAIT seconds.
wait_until() {
	waited=0
	while ! "$1"; do
		if [ "$waited" -ge "$WAIT" ]; then
			return 1
		fi
		sleep 1
		waited=$((waited + 1))
	done
	return 0
}

none_running() {
	procs=$TMPDIR_NETVIZ/procs
	private "$procs"
	softflowd_processes >"$procs"
	[ ! -s "$procs" ]
}

# ---------------------------------------------------------------- modes

preflight() {
	if [ ! -f "$CONFIG_INC" ]; then
		fail "this does not look like pfSense: $CONFIG_INC is missing"
	fi
	if [ ! -x "$PHP" ]; then
		fail "PHP not found at $PHP"
	fi
	if [ ! -x "$PS" ]; then
		fail "ps not found at $PS"
	fi
	run_php preflight
	status=$?
	if [ "$status" -eq 2 ]; then
		printf '%s: nothing was changed.\n' "$PROG" >&2
		exit 2
	elif [ "$status" -ne 0 ]; then
		fail "reading pfSense's configuration failed (PHP exit status $status)"
	fi
	private "$TMPDIR_NETVIZ/interfaces"
	grep '^realif ' "$RESULT" | cut -d' ' -f2- >"$TMPDIR_NETVIZ/interfaces"
}

do_enable() {
	preflight
	ensure_package
	target=$(expected_target)
	run_php apply || fail "writing or applying the softflowd settings failed (see above)"
	if result_has 'changed yes'; then
		say "settings written (config history: \"netviz: softflowd exports NetFlow v$NF_VERSION to $target from $INTERFACES\") and applied"
	else
		say "settings already as wanted: nothing written"
		if check_running; then
			say "OK: one softflowd per interface ($INTERFACES) exports NetFlow v$NF_VERSION to $target"
			return 0
		fi
		say "softflowd does not run as wanted; restarting it:$PROBLEMS"
		run_php restart || fail "restarting softflowd failed (see above)"
	fi
	if ! wait_until check_running; then
		fail "softflowd does not run as configured after ${WAIT}s:$PROBLEMS
Check Status > Services and Status > System Logs on pfSense."
	fi
	say "OK: one softflowd per interface ($INTERFACES) exports NetFlow v$NF_VERSION to $target"
}

do_disable() {
	preflight
	run_php disable || fail "disabling softflowd failed (see above)"
	if result_has 'package missing'; then
		say "$PACKAGE is not installed: nothing to disable"
	elif result_has 'changed yes'; then
		say "softflowd disabled (config history: \"netviz: softflowd NetFlow export disabled\")"
	else
		say "softflowd already disabled: nothing written"
		if ! none_running && result_has 'package installed'; then
			run_php restart || fail "stopping softflowd failed (see above)"
		fi
	fi
	if ! wait_until none_running; then
		fail "softflowd still runs after ${WAIT}s (pids: $(cut -d' ' -f1 "$TMPDIR_NETVIZ/procs" | tr '\n' ' '))"
	fi
	say "OK: no softflowd runs"
}

main() {
	parse_args "$@"
	check_args
	TMPDIR_NETVIZ=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/netviz-softflowd.XXXXXX") || fail "cannot create a temporary directory"
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	if [ "$MODE" = enable ]; then
		do_enable
	else
		do_disable
	fi
}

main "$@"

<?php
/* STAND-IN tool (tests only): prints as JSON the softflowd command lines pfSense-pkg-softflowd
 * would build from the stand-in's config.xml, with the real paths (/usr/local/bin/softflowd,
 * /var/run/...). Uses the stand-in package's builder, the one sync_package_softflowd() runs. */

$root = dirname(__DIR__);
set_include_path($root . '/etc/inc' . PATH_SEPARATOR . get_include_path());
require_once('config.inc');
require_once($root . '/_package/softflowd.inc');

echo json_encode(standin_softflowd_commands(standin_softflowd_settings(), ''), JSON_PRETTY_PRINT), "\n";

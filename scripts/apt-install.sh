#!/bin/sh
# apt-install.sh PKG... — install Debian packages non-interactively without
# starting their services (containers and CI machines have no init system).
set -eu
[ "$#" -gt 0 ] || exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo ">> installing system packages: $*"
# Refuse service starts during the install; remove our guard afterwards only
# if we created it.
created=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	created=1
fi
cleanup() { [ -z "$created" ] || $SUDO rm -f /usr/sbin/policy-rc.d; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
# Refresh the index only when it is missing or old: apt-get update is the slow part.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mmin -360 2>/dev/null | head -1)" ]; then
	$SUDO apt-get update -qq
fi
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
echo ">> installed: $*"

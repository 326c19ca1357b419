# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The Debian 12 packages groupvpn builds, tests and demonstrates with.
# deps_install installs the missing ones (as root), or says which are missing.

GVPN_DEPS=(
	build-essential cmake pkg-config git python3
	clang libclang-rt-14-dev
	libssl-dev openssl libevent-dev libjansson-dev libmicrohttpd-dev libsqlite3-dev
	libcmocka-dev
	iproute2 nftables iputils-ping iperf3 procps tcpdump
)

deps_missing() {
	local p missing=()
	for p in "${GVPN_DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	echo "${missing[*]}"
}

deps_install() {
	local missing
	missing=$(deps_missing)
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing Debian packages: $missing" >&2
		echo "run as root, or: apt-get install $missing" >&2
		return 1
	fi
	echo "== installing Debian packages: $missing"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >/tmp/groupvpn-apt.log 2>&1; then
		tail -20 /tmp/groupvpn-apt.log >&2
		echo "package installation failed (log: /tmp/groupvpn-apt.log)" >&2
		return 1
	fi
}

#!/usr/bin/env bash
# Installs what Palisade needs on a fresh Debian machine (run as root), then `npm ci`.
# Used by the README's two commands and by .ci/run, so there is one list to keep true.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=0
for b in iptables ip6tables conntrack ipset nft ip tc curl socat ncat sysctl iperf3 g++ make chromium; do command -v "$b" >/dev/null 2>&1 || need_apt=1; done
for h in /usr/include/pcap.h; do
  [ -f "$h" ] || need_apt=1
done
if [ "$need_apt" = 1 ] || [ "${PALISADE_FORCE_APT:-}" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: system packages are missing and this is not root; run as root or install:" >&2
    echo "  apt-get install iptables conntrack ipset nftables iproute2 procps curl socat ncat iperf3 libpcap-dev python3 make g++ chromium" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends \
    iptables conntrack ipset nftables iproute2 procps kmod curl socat ncat iperf3 \
    libpcap-dev python3 make g++ chromium
fi
# nftables and iproute2's tc: the source guard (src/enforce/tc-guard.ts, nft-guard.ts; the lab tests check them).
# chromium: the report test (test/cli/report-browser.test.ts) opens the HTML report in it through
# puppeteer-core, which downloads no browser of its own.

# The NFQUEUE/TUN addon (native/) speaks netlink itself and needs only kernel headers; libpcap-dev
# is for the cap addon. npm ci builds native/ and the raw-socket and cap addons with node-gyp against Node's own
# headers in /usr/include/node (nodedir=/usr in .npmrc), so no header download is attempted.
#
# --prefer-offline: npm 11's ci asks the registry for every package's metadata (packument) even
# though the lock pins each tarball by integrity. When name resolution fails, each ask fails with
# EAI_AGAIN and is retried, and npm ignores SIGTERM meanwhile, so a plain `npm ci` hung CI until its
# 90-minute limit (stop 44). With the flag, npm takes what its cache already holds (the integrity
# check still applies) and asks the registry only for what is missing, so a fresh machine installs
# as before and a machine that has installed once needs no network. --no-audit and --no-fund skip
# two more registry calls that install nothing. The time limit (KILL, since TERM is ignored) turns a
# registry that cannot be reached into a failure with a reason instead of a hang; the install itself
# took 15 s from the cache here. (PALISADE_NPM_CI_SECONDS: test/deploy/bootstrap.test.ts.)
npm_limit=${PALISADE_NPM_CI_SECONDS:-1200}
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! timeout -s KILL "$npm_limit" npm ci --prefer-offline --no-audit --no-fund; then
    echo "bootstrap: npm ci failed or ran out of its $npm_limit seconds; can this machine resolve registry.npmjs.org?" >&2
    exit 1
  fi
fi

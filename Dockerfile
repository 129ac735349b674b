# syntax=docker/dockerfile:1
#
# The Palisade agent image (see daemonset.yaml).
#
#   docker build -t palisade:0.1.0 .
#
# Two stages: the builder has the compilers (node-gyp builds native/ and the raw-socket/cap
# addons; tsc compiles TypeScript to dist/), the runtime stage gets only the results, the
# production node_modules and the userspace tools the agent runs (iptables, ip, sysctl).

# Same Node release line as CI. undici 7 (client-node's HTTP client) needs Node >= 20.18.1.
ARG NODE_VERSION=20.20.2

# ---- build -------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libpcap-dev \
 && rm -rf /var/lib/apt/lists/*
# The project builds addons offline against nodedir=/usr (Debian's nodejs layout, see .npmrc and
# the "install" script); the official image keeps the same headers under /usr/local.
RUN test -e /usr/include/node || ln -s /usr/local/include/node /usr/include/node
WORKDIR /src
# Dependencies first, so source edits do not invalidate the npm ci layer. The root package's
# install script builds native/, so it has to be there already.
COPY package.json package-lock.json .npmrc ./
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY support ./support
COPY bench ./bench
COPY scripts ./scripts
COPY test ./test
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && test -f native/build/Release/palisade_native.node

# ---- runtime -----------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive \
    NODE_ENV=production
# iptables (nft and legacy backends, ip6tables), conntrack (strict mode cuts flows a new policy
# denies), ipset (creates the --verdict-cache sets), nftables and iproute2 (the source guard:
# tc filters on each pod veth with an nft table on its sink, or a native nft table; without nft
# it falls back to iptables raw chains with ipsets; iproute2 also has ip rule/route for the TUN
# backend), procps (sysctl), libpcap0.8 (the cap addon's runtime library). The NFQUEUE addon talks netlink
# directly: no libnetfilter_queue needed. No kmod: the agent has no SYS_MODULE, so modules are
# loaded on the node (its errors name the modprobe command to run there).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables conntrack ipset nftables iproute2 procps libpcap0.8 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist/src ./dist/src
# The addon sits where a checkout has it: src/enforce/native.ts looks for
# <package root>/native/build/Release, the package root being the folder with package.json.
COPY --from=build /src/native/build/Release/palisade_native.node ./native/build/Release/palisade_native.node
# Capabilities (NET_ADMIN, NET_RAW) come from the pod's securityContext; the agent needs root
# inside the container for them to apply without ambient-capability tricks.
USER root
# Node's own flags for the agent: src/agent/node-flags.ts says why (test/deploy checks they agree).
ENTRYPOINT ["node", "--v8-pool-size=1", "bin/palisade.js", "agent", "--source", "kube"]

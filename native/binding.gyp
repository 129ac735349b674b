# Palisade's kernel shim: NFQUEUE over raw netlink, a TUN reader and the verdict cache's ipset writer, as plain N-API C (no
# node-addon-api, no libnetfilter_queue at run time: only kernel UAPI headers).
#
# Build offline against the headers of the installed Node (/usr/include/node):
#   npx node-gyp rebuild -C native --nodedir=/usr
# The project's .npmrc also says nodedir=/usr, and package.json's "install" script passes it.
{
  "targets": [
    {
      "target_name": "palisade_native",
      "sources": ["src/addon.c", "src/batch.c", "src/nfqueue.c", "src/tun.c", "src/ipset.c", "src/netlink.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}

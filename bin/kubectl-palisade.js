#!/usr/bin/env node
// `kubectl palisade <command> ...`: kubectl runs the first `kubectl-palisade` on PATH with the
// words after `palisade`, so this is the palisade command itself under the plugin's name
// (bin/palisade.js does the loading; see it for why a checkout runs the TypeScript sources).
// Messages still say "palisade <command>:"; `kubectl palisade` with no command prints the usage.
await import('./palisade.js');

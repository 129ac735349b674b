#!/usr/bin/env node
// Entry point of the `palisade` command. A checkout (src/ present) always runs the TypeScript
// sources through tsx's loader, even when `npm run build` has left a dist/ behind: a dist/ is
// only as new as the last build, so preferring it would silently run old code after an edit.
// The container image ships dist/ without src/ and runs the compiled JavaScript.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
const compiled = join(root, 'dist', 'src', 'cli', 'main.js');
let main;
if (existsSync(source)) {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch (e) {
    // A checkout used before its dependencies were installed: say what to run, not Node's trace.
    if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    process.stderr.write(`palisade: the dependencies are not installed (no package "tsx" from ${root}): run \`bash scripts/bootstrap.sh\` (or \`npm ci\`) in ${root}\n`);
    // 70, as for any unexpected error (src/cli/main.ts): 1 would read as findings.
    process.exit(70);
  }
  tsx.register();
  main = await import(pathToFileURL(source).href);
} else if (existsSync(compiled)) {
  main = await import(pathToFileURL(compiled).href);
} else {
  process.stderr.write(`palisade: neither ${source} nor ${compiled} exists (run \`npm run build\` to make dist/)\n`);
  process.exit(1);
}
process.exitCode = await main.main(process.argv.slice(2));

#!/usr/bin/env node
// Entry point of the `palisade` command. Runs the compiled JavaScript in dist/ when present (the
// container image), else the TypeScript sources through tsx's loader (a checkout after `npm ci`).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'src', 'cli', 'main.js');
let main;
if (existsSync(compiled)) {
  main = await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  main = await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
}
process.exitCode = await main.main(process.argv.slice(2));

// Bundles src/ into the files the Go binary embeds (package meetingui, //go:embed dist):
// dist/app.js and dist/index.html (the meeting page, whose media encryption is src/page.js)
// and dist/worker.js (the media worker), ES modules with
// every npm dependency inside. Usage: node build.mjs [outdir], outdir defaulting to dist.
// scripts/build-web.sh runs it.
import * as esbuild from 'esbuild';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';

const outdir = process.argv[2] ?? 'dist';

await esbuild.build({
  entryPoints: { app: 'src/app.js', worker: 'src/worker.js' },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  outdir,
  charset: 'utf8',
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile('src/index.html', join(outdir, 'index.html'));

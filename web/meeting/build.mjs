// Bundles src/ into the files the Go binary embeds (package meetingui, //go:embed dist):
// dist/meeting.js for the page and dist/worker.js for the media worker, both ES modules.
// Usage: node build.mjs [outdir], outdir defaulting to dist. scripts/build-web.sh runs it.
import * as esbuild from 'esbuild';

const outdir = process.argv[2] ?? 'dist';

await esbuild.build({
  entryPoints: { meeting: 'src/page.js', worker: 'src/worker.js' },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  outdir,
  charset: 'utf8',
  legalComments: 'none',
  logLevel: 'warning',
});

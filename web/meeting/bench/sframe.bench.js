// Benchmarks SFrame per frame next to raw WebCrypto AES-256-GCM on the same bytes in node
// (bench/paired.js). Usage: node bench/sframe.bench.js [frames per measurement] [parts]
// ("parts": measureParts' split of one VP8 delta frame's cost instead of the table).
import '../test/webcrypto.js';

const { measure, measureParts, table } = await import('./paired.js');
const N = Number(process.argv[2] ?? 20000);
if (process.argv[3] === 'parts') {
  const parts = await measureParts(N);
  console.log(`node ${process.version}, ${N} frames per measurement, steps alternating, medians (µs)`);
  for (const [name, ns] of Object.entries(parts)) console.log(`| ${name} | ${(ns / 1000).toFixed(2)} |`);
} else {
  const rows = await measure(N);
  console.log(`node ${process.version}, ${N} frames per measurement, operations alternating, medians`);
  console.log(table(rows));
  console.log('ratio: raw time / SFrame time of the batches of one round, median over rounds (1.00 = no overhead); "reused": the raw call with one nonce buffer');
}

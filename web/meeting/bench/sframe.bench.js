// Benchmarks SFrame per frame next to raw WebCrypto AES-256-GCM on the same frames in node
// (bench/paired.js). Usage: node bench/sframe.bench.js [frames per measurement]
import '../test/webcrypto.js';

const { measure, table } = await import('./paired.js');
const N = Number(process.argv[2] ?? 20000);
const rows = await measure(N);
console.log(`node ${process.version}, ${N} frames per measurement, operations alternating, medians`);
console.log(table(rows));
console.log('ratio: raw time / SFrame time, i.e. SFrame throughput as a fraction of raw (1.00 = no overhead)');

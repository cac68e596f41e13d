// Builds the dashboard into ../../dashboard/dist (embedded in the geofence binary):
//   countries-50m.json  world-atlas's Natural Earth 1:50m countries, each geometry's id the
//                       ISO 3166-1 alpha-2 code (world-countries maps the numeric codes)
//   dashboard.js        src/main.js and d3-geo, topojson-client, bundled by esbuild
//   index.html, dashboard.css, NOTICE
// Run through scripts/build-dashboard.sh. The output depends only on the pinned packages
// (package-lock.json) and src/, so the Go test can rebuild and compare.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "../../dashboard/dist");
mkdirSync(out, { recursive: true });

const nm = join(here, "node_modules");
const topo = JSON.parse(readFileSync(join(nm, "world-atlas/countries-50m.json"), "utf8"));
const countries = JSON.parse(readFileSync(join(nm, "world-countries/countries.json"), "utf8"));
const alpha2 = new Map(countries.filter((c) => c.ccn3).map((c) => [c.ccn3, c.cca2]));
for (const g of topo.objects.countries.geometries) {
  const cc = g.id !== undefined ? alpha2.get(g.id) : undefined;
  g.properties = { name: g.properties && g.properties.name };
  if (cc) g.id = cc;
  else delete g.id; // a territory with no assigned code (Kosovo, Northern Cyprus...)
}
writeFileSync(join(out, "countries-50m.json"), JSON.stringify(topo));

await build({
  entryPoints: [join(here, "src/main.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  legalComments: "eof",
  outfile: join(out, "dashboard.js"),
  logLevel: "warning",
});
for (const f of ["index.html", "dashboard.css"]) copyFileSync(join(here, "src", f), join(out, f));

const pkg = (p) => JSON.parse(readFileSync(join(nm, p, "package.json"), "utf8"));
const lic = (p) => readFileSync(join(nm, p, "LICENSE"), "utf8").trim();
let notice = "The Geofence dashboard bundles:\n";
for (const p of ["d3-geo", "d3-array", "internmap", "topojson-client", "world-atlas"]) {
  const j = pkg(p);
  notice += `\n== ${p} ${j.version} (${j.license})\n\n${lic(p)}\n`;
}
notice += "\nworld-atlas's shapes are Natural Earth's (public domain, naturalearthdata.com).\n";
notice += `The numeric-to-alpha-2 country codes come from world-countries ${pkg("world-countries").version} (ODbL-1.0).\n`;
writeFileSync(join(out, "NOTICE"), notice);

// Fails when the gzipped JavaScript of the production build (dist/) exceeds the budget.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
const dir = process.argv[2] ?? "dist";
const files = readdirSync(join(dir, "assets")).filter((f) => f.endsWith(".js"));
if (files.length === 0) {
  console.error(`no JavaScript in ${dir}/assets: run npm run build first`);
  process.exit(1);
}
let total = 0;
for (const f of files) {
  const gz = gzipSync(readFileSync(join(dir, "assets", f)), { level: 9 }).length;
  total += gz;
  console.log(`${f}: ${(gz / 1024).toFixed(1)} KiB gzipped`);
}
const verdict = total <= BUDGET ? "within" : "OVER";
console.log(`bundle: ${(total / 1024).toFixed(1)} KiB gzipped JavaScript, ${verdict} the ${BUDGET / 1024} KiB budget`);
process.exit(total <= BUDGET ? 0 : 1);

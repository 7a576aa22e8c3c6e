// Prints the nginx `add_header` line for the Content-Security-Policy of a built page:
// the policy of its <meta http-equiv> tag (which vite.config.ts derives from the service
// URLs) plus `frame-ancestors 'none'`, which browsers ignore in a meta tag.
//   node csp-header.mjs dist/index.html > csp.conf
import { readFileSync } from "node:fs";

const html = readFileSync(process.argv[2] ?? "dist/index.html", "utf8");
const meta = html.match(/<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i);
if (!meta) {
  console.error("no Content-Security-Policy meta tag in the built page");
  process.exit(1);
}
const policy = `${meta[1].replace(/&#39;|&apos;/g, "'").replace(/;\s*$/, "")}; frame-ancestors 'none'`;
if (/["\\\n]/.test(policy)) {
  console.error(`refusing to write a policy nginx would misread: ${policy}`);
  process.exit(1);
}
console.log(`add_header Content-Security-Policy "${policy}" always;`);

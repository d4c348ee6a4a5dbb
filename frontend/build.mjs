// Copy the browser builds of our npm packages into repo_app/static/vendor/, where
// Flask serves them: pages never load code from a CDN (schools may be offline).
// Run by `npm ci && npm run build` (make assets, .ci/run, the Dockerfile's node
// stage). The copied files are build output and are not committed.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const vendor = join(here, "..", "repo_app", "static", "vendor");

// package -> [source path inside the package, target path inside vendor/]
const COPIES = {
  "pdfjs-dist": [
    ["build/pdf.min.mjs", "pdfjs/pdf.min.mjs"],
    ["build/pdf.worker.min.mjs", "pdfjs/pdf.worker.min.mjs"],
    // Chinese PDFs name CID fonts whose character maps live here.
    ["cmaps", "pdfjs/cmaps"],
    ["standard_fonts", "pdfjs/standard_fonts"],
    ["wasm", "pdfjs/wasm"],
    ["iccs", "pdfjs/iccs"],
    ["LICENSE", "pdfjs/LICENSE"],
  ],
  "tus-js-client": [
    ["dist/tus.min.js", "tus/tus.min.js"],
    ["LICENSE", "tus/LICENSE"],
  ],
};

rmSync(vendor, { recursive: true, force: true });
const manifest = {};
for (const [pkg, copies] of Object.entries(COPIES)) {
  const root = join(modules, pkg);
  manifest[pkg] = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  for (const [from, to] of copies) {
    mkdirSync(dirname(join(vendor, to)), { recursive: true });
    cpSync(join(root, from), join(vendor, to), { recursive: true });
  }
}
// Templates and tests read the versions from here (see repo_app/web/assets.py).
writeFileSync(join(vendor, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`vendor files written to ${vendor}:`, manifest);

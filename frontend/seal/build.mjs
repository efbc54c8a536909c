// Bundles src/seal.js into one minified IIFE at the path given (scripts/build-seal passes
// relay/web/static/seal.js or a temp file), with a leading comment naming every bundled
// package, its version and licence as installed from package-lock.json. The same lock and
// source give the same bytes: no source map, no paths, no time stamps.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, version as esbuildVersion } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const output = process.argv[2];
if (!output) {
  console.error("usage: node frontend/seal/build.mjs OUTPUT");
  process.exit(2);
}

const result = await build({
  absWorkingDir: here,
  entryPoints: ["src/seal.js"],
  bundle: true,
  write: false,
  outfile: "seal.js",
  metafile: true,
  format: "iife",
  platform: "browser",
  // async functions and everything older; the bundle needs no BigInt.
  target: "es2017",
  minify: true,
  charset: "ascii",
  sourcemap: false,
  // The packages' own licence comments are collected into the banner below instead.
  legalComments: "none",
  // tweetnacl falls back to Node's require("crypto") where there is no
  // crypto.getRandomValues; in a browser that branch is dead, and this removes it.
  define: { require: "undefined" },
  logLevel: "silent",
});
if (result.warnings.length > 0) {
  for (const warning of result.warnings) console.error(`build-seal: ${warning.text}`);
  process.exit(1);
}

function copyright(directory) {
  try {
    const line = readFileSync(path.join(directory, "LICENSE"), "utf8")
      .split("\n")
      .find((text) => /^\s*Copyright/i.test(text));
    return line ? `, ${line.trim()}` : "";
  } catch {
    return "";
  }
}

const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (match) packages.add(match[1]);
}
const bundled = [...packages].sort().map((name) => {
  const directory = path.join(here, "node_modules", name);
  const manifest = JSON.parse(readFileSync(path.join(directory, "package.json"), "utf8"));
  return `${manifest.name} ${manifest.version} (${manifest.license}${copyright(directory)})`;
});
const banner =
  `/*! Terminrelay seal.js, built from frontend/seal by scripts/build-seal with esbuild ` +
  `${esbuildVersion}. Bundled: ${bundled.join("; ")} */\n`;

writeFileSync(output, banner + result.outputFiles[0].text);

// Generate TypeScript declarations from the protocol's JSON Schemas with
// json-schema-to-typescript: one .d.ts per file in schemas/json/ and an
// index.d.ts that re-exports them and maps method and notification names to
// their types.
//
// Usage: node generate-types.mjs OUTPUT_FOLDER   (npm run generate-types
// writes into schemas/typescript/). The output depends only on the schema
// files and the versions pinned in package-lock.json, so tests can compare a
// fresh run with the checked-in files.

import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "json-schema-to-typescript";

const SCHEMA_FOLDER = fileURLToPath(new URL("../../schemas/json/", import.meta.url));
const COMMAND = "`npm run generate-types` in tests/node";

// The OpenRPC document describes the same types again; it gets no .d.ts.
const SKIPPED_SCHEMAS = new Set(["openrpc.json"]);

// rpc.discover has no schema file because its result is the OpenRPC document.
const DISCOVER_METHOD = '  "rpc.discover": { params: Record<string, never>; result: Record<string, unknown> };';

const COMPILE_OPTIONS = {
  additionalProperties: false,
  declareExternallyReferenced: true,
  // Arrays bounded by minItems or maxItems stay plain T[] instead of tuple
  // types such as [T, ...T[]] that a caller cannot fill from an ordinary array.
  ignoreMinAndMaxItems: true,
  strictIndexSignatures: true,
  unknownAny: true,
  format: true,
};

/**
 * Return the kind and protocol name encoded in a schema file name, such as
 * {kind: "params", name: "get-status"} for get-status.params.json.
 */
function describeSchemaFile(fileName) {
  const match = /^(.+)\.(params|result|notification|data)\.json$/.exec(fileName);
  if (match === null) {
    throw new Error(`unexpected schema file name ${fileName}; expected NAME.params.json, NAME.result.json, NAME.notification.json or error.data.json`);
  }
  const [, name, kind] = match;
  return { name, kind, side: kind === "params" ? "input" : "output" };
}

/** Order [key, value] entries by key in code unit order, which no locale setting changes. */
function byKey([left], [right]) {
  return left < right ? -1 : left > right ? 1 : 0;
}

function pascalCase(text) {
  return text
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0].toUpperCase() + word.slice(1))
    .join("");
}

/** Return the exported name of a schema file's root type, e.g. GetStatusParams or MarketingTaskCreatedParams. */
function rootTypeName({ name, kind }) {
  const suffix = { params: "Params", result: "Result", notification: "Params", data: "Data" }[kind];
  return pascalCase(name) + suffix;
}

/**
 * Copy a schema with the titles removed everywhere except at the root and on
 * each $defs entry. pydantic titles every property ("Estimatedaudience"), and
 * json-schema-to-typescript would turn each title into a separate named type.
 */
function withoutPropertyTitles(schema, keepTitle = true) {
  if (Array.isArray(schema)) {
    return schema.map((item) => withoutPropertyTitles(item, false));
  }
  if (schema === null || typeof schema !== "object") {
    return schema;
  }
  const copy = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "title" && !keepTitle) {
      continue;
    }
    if (key === "$defs") {
      copy.$defs = Object.fromEntries(Object.entries(value).map(([defName, def]) => [defName, withoutPropertyTitles(def, true)]));
    } else if (key === "properties") {
      copy.properties = Object.fromEntries(Object.entries(value).map(([property, def]) => [property, withoutPropertyTitles(def, false)]));
    } else if (key === "enum" || key === "const" || key === "default" || key === "examples") {
      copy[key] = value;
    } else {
      copy[key] = withoutPropertyTitles(value, false);
    }
  }
  return copy;
}

async function loadSchemaFiles() {
  const fileNames = (await readdir(SCHEMA_FOLDER)).filter((name) => name.endsWith(".json") && !SKIPPED_SCHEMAS.has(name)).sort();
  const files = [];
  for (const fileName of fileNames) {
    const schema = JSON.parse(await readFile(path.join(SCHEMA_FOLDER, fileName), "utf8"));
    const description = describeSchemaFile(fileName);
    files.push({ fileName, schema, ...description, typeName: rootTypeName(description), moduleName: fileName.replace(/\.json$/, "") });
  }
  return files;
}

async function compileSchemaFile(file) {
  const schema = withoutPropertyTitles(file.schema);
  // The file's own title ("create-marketing-task params") is prose; the root
  // type is named after the file instead.
  schema.title = file.typeName;
  delete schema.$comment;
  const bannerComment = `// Generated from schemas/json/${file.fileName} by ${COMMAND}; do not edit.`;
  return compile(schema, file.typeName, { ...COMPILE_OPTIONS, bannerComment, cwd: SCHEMA_FOLDER });
}

/**
 * Choose the exported name of every shared $defs type. A model that has the
 * same schema everywhere keeps its name. A model whose params form differs
 * from its result form (defaults optional in one, present in the other) is
 * exported twice, as NameInput and NameOutput, the suffixes pydantic uses.
 */
function planSharedExports(files) {
  const variants = new Map();
  for (const file of files) {
    for (const [defName, def] of Object.entries(file.schema.$defs ?? {})) {
      const sides = variants.get(defName) ?? new Map();
      const existing = sides.get(file.side);
      const text = JSON.stringify(def);
      if (existing !== undefined && existing.text !== text) {
        throw new Error(`$defs ${defName} differs between ${existing.file.fileName} and ${file.fileName} on the ${file.side} side`);
      }
      if (existing === undefined) {
        sides.set(file.side, { text, file });
      }
      variants.set(defName, sides);
    }
  }

  const exports = [];
  for (const [defName, sides] of [...variants].sort(byKey)) {
    const forms = [...sides.values()];
    const differs = forms.length > 1 && forms[0].text !== forms[1].text;
    for (const [side, { file }] of [...sides].sort(byKey)) {
      let exportedName = defName;
      if (differs) {
        exportedName += side === "input" ? "Input" : "Output";
      }
      if (!differs && exports.some((entry) => entry.exportedName === exportedName)) {
        continue;
      }
      exports.push({ localName: defName, exportedName, moduleName: file.moduleName });
    }
  }
  return exports;
}

function renderIndex(files) {
  const lines = [`// Generated from schemas/json/*.json by ${COMMAND}; do not edit.`, ""];
  lines.push("// The params, result and error data of each method and the params of each notification.");
  for (const file of files) {
    lines.push(`export type { ${file.typeName} } from "./${file.moduleName}.js";`);
  }
  lines.push("");
  lines.push("// Shapes shared by several messages.");
  for (const entry of planSharedExports(files)) {
    const specifier = entry.localName === entry.exportedName ? entry.localName : `${entry.localName} as ${entry.exportedName}`;
    lines.push(`export type { ${specifier} } from "./${entry.moduleName}.js";`);
  }
  lines.push("");
  for (const file of files) {
    lines.push(`import type { ${file.typeName} } from "./${file.moduleName}.js";`);
  }

  const methods = new Map();
  for (const file of files.filter((entry) => entry.kind === "params" || entry.kind === "result")) {
    methods.set(file.name, { ...methods.get(file.name), [file.kind]: file.typeName });
  }
  lines.push("");
  lines.push("/** Params and result type of every method, keyed by method name. */");
  lines.push("export interface MethodMap {");
  for (const [name, { params, result }] of methods) {
    if (params === undefined || result === undefined) {
      throw new Error(`method ${name} needs both ${name}.params.json and ${name}.result.json`);
    }
    lines.push(`  "${name}": { params: ${params}; result: ${result} };`);
  }
  lines.push(DISCOVER_METHOD);
  lines.push("}");

  lines.push("");
  lines.push("/** Params type of every notification the sidecar sends, keyed by notification method. */");
  lines.push("export interface NotificationMap {");
  for (const file of files.filter((entry) => entry.kind === "notification")) {
    lines.push(`  "${file.name}": ${file.typeName};`);
  }
  lines.push("}");

  lines.push("");
  lines.push("export type MethodName = keyof MethodMap;");
  lines.push("export type NotificationName = keyof NotificationMap;");
  lines.push("");
  lines.push("/** The error member of a failed response; data is ErrorData for every error the sidecar sends. */");
  lines.push("export interface RpcErrorObject {");
  lines.push("  code: number;");
  lines.push("  message: string;");
  lines.push("  data: ErrorData;");
  lines.push("}");
  lines.push("");
  return lines.join("\n");
}

async function main() {
  const outputFolder = process.argv[2];
  if (!outputFolder) {
    throw new Error("usage: node generate-types.mjs OUTPUT_FOLDER");
  }
  const files = await loadSchemaFiles();
  if (!files.some((file) => file.typeName === "ErrorData")) {
    throw new Error("schemas/json/error.data.json is missing; RpcErrorObject needs ErrorData");
  }

  const outputs = new Map();
  for (const file of files) {
    outputs.set(`${file.moduleName}.d.ts`, await compileSchemaFile(file));
  }
  outputs.set("index.d.ts", renderIndex(files));

  await mkdir(outputFolder, { recursive: true });
  for (const name of await readdir(outputFolder)) {
    if (name.endsWith(".d.ts") && !outputs.has(name)) {
      await rm(path.join(outputFolder, name));
    }
  }
  for (const [name, text] of outputs) {
    await writeFile(path.join(outputFolder, name), text, "utf8");
  }
  process.stderr.write(`wrote ${outputs.size} files to ${outputFolder}\n`);
}

await main();

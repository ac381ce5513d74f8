// Validates prometheus-operator objects (ServiceMonitor, PrometheusRule) against the
// prometheus-operator API types, using the pinned @kubernetes-models/prometheus-operator
// models (generated from prometheus-operator's Go types; they check types, enums and
// required fields, not unknown fields). Reads a JSON array of objects on stdin; prints one
// line per problem and exits 1 if there is any.
//
// Usage: node validate-crds.mjs NODE_MODULES_DIR < objects.json
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
if (!modules) {
  console.error("usage: node validate-crds.mjs NODE_MODULES_DIR < objects.json");
  process.exit(2);
}
const kinds = {
  "monitoring.coreos.com/v1/ServiceMonitor": "ServiceMonitor",
  "monitoring.coreos.com/v1/PrometheusRule": "PrometheusRule",
};
const objects = JSON.parse(readFileSync(0, "utf8"));
let problems = 0;
for (const obj of objects) {
  const id = `${obj.apiVersion}/${obj.kind}`;
  const cls = kinds[id];
  const where = `${obj.kind}/${obj.metadata?.name ?? "?"}`;
  if (!cls) {
    console.log(`${where}: no model for ${id}`);
    problems++;
    continue;
  }
  const file = join(modules, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1", `${cls}.js`);
  const mod = await import(pathToFileURL(file).href);
  try {
    new mod[cls](obj).validate();
  } catch (e) {
    console.log(`${where}: ${e.message}`);
    problems++;
  }
}
process.exit(problems ? 1 : 0);

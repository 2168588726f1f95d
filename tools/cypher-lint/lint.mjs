// Lints Cypher files with Neo4j's own front end, offline. Prints one JSON object:
// {"file": [{"line", "column", "severity", "message"}, ...], ...}; parameter-not-defined
// diagnostics are dropped (parameters are only known at run time).
import { readFileSync } from "node:fs";
import { lintCypherQuery, isNotParamError } from "@neo4j-cypher/language-support";

const out = {};
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  const { diagnostics } = lintCypherQuery(text, {});
  out[file] = diagnostics.filter(isNotParamError).map((d) => ({
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
    severity: d.severity === 1 ? "error" : "warning",
    message: d.message,
  }));
}
process.stdout.write(JSON.stringify(out));

// Prints the plain closing line CI reads ("tests: N passed, N failed") from vitest's JSON report and exits
// with vitest's own status. A test file that failed to load counts as a failed test.
import { readFileSync } from "node:fs";

const [file, status] = process.argv.slice(2);
let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch {
  console.log("tests: 0 passed, 1 failed");
  console.error(`no test report at ${file}: vitest did not finish`);
  process.exit(Number(status) || 1);
}
const broken = report.testResults.filter(
  (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
);
for (const f of broken) console.error(`failed to run: ${f.name}: ${(f.message ?? "").split("\n")[0]}`);
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0) + broken.length;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(Number(status) || (failed > 0 ? 1 : 0));

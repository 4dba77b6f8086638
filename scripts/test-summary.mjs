// Prints the plain closing line CI reads ("tests: N passed, N failed, N skipped") from vitest's JSON report,
// and exits with vitest's own status.
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
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(
  `tests: ${passed} passed, ${report.numFailedTests ?? 0} failed${skipped ? `, ${skipped} skipped` : ""}`,
);
if ((report.numFailedTestSuites ?? 0) > 0) console.error(`${report.numFailedTestSuites} test file(s) failed`);
process.exit(Number(status) || (failed > 0 ? 1 : 0));

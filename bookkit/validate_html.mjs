// `node bookkit/validate_html.mjs page.html ...`: validate built pages with html-validate and print
// one JSON line: [{file, line, column, rule, message}, ...]. Run by tests/test_site.py on every page.
import { HtmlValidate } from "html-validate";

const validator = new HtmlValidate({
  extends: ["html-validate:standard"],  // correctness and accessibility rules, no style preferences
  rules: {
    // Markup of the Material theme itself, the same on every page, that the book does not write:
    "valid-autocomplete": "off",        // autocomplete="off" on its drawer and search toggle checkboxes
  },
});

const problems = [];
for (const file of process.argv.slice(2)) {
  const report = await validator.validateFile(file);
  for (const result of report.results) {
    for (const m of result.messages) {
      problems.push({ file, line: m.line, column: m.column, rule: m.ruleId, message: m.message });
    }
  }
}
console.log(JSON.stringify(problems));

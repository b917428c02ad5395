// Render TeX to HTML with the local KaTeX at build time (driven by bookkit/math.py).
// One process per build: each stdin line is a JSON list [{tex, display}], answered by one stdout
// line, a JSON list [{html} | {error}] in the same order.
const katex = require("katex");
const readline = require("readline");

const render = ({ tex, display }) => {
  try {
    return { html: katex.renderToString(tex, { displayMode: display, throwOnError: true, output: "htmlAndMathml" }) };
  } catch (err) {
    return { error: String(err.message || err) };
  }
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  process.stdout.write(JSON.stringify(JSON.parse(line).map(render)) + "\n");
});

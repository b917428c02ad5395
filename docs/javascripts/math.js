// Client-side math, for what the build could not typeset: Markdown cells of notebooks (mkdocs-jupyter
// keeps their $...$) and any .arithmatex element left untypeset. Chapter math is typeset at build time
// (bookkit/math.py), so most pages never load KaTeX's script. Uses the local copy of KaTeX.
(function () {
  const base = new URL("../assets/vendor/katex/", document.currentScript.src).href;
  let loading = null;

  function load() {
    if (loading) return loading;
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = base + "katex.min.css";
    document.head.appendChild(css);
    const script = (src) => new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = base + src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("could not load " + src));
      document.head.appendChild(s);
    });
    loading = script("katex.min.js").then(() => script("contrib/auto-render.min.js"));
    return loading;
  }

  // arithmatex emits \( \) and \[ \]; notebook Markdown cells keep $ and $$.
  const delimiters = [
    { left: "\\(", right: "\\)", display: false },
    { left: "\\[", right: "\\]", display: true },
  ];
  const notebookDelimiters = [
    { left: "$$", right: "$$", display: true },
    { left: "$", right: "$", display: false },
    ...delimiters,
  ];

  function render(root) {
    const notebook = root.querySelector(".jupyter-wrapper");
    if (!root.querySelector(".arithmatex:not([data-math-rendered])") && !notebook) return;
    load().then(() => {
      window.renderMathInElement(root, {
        delimiters: notebook ? notebookDelimiters : delimiters,
        ignoredClasses: ["highlight", "jp-OutputArea"],
        throwOnError: false,
      });
      root.setAttribute("data-math-rendered", "");
    });
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(({ body }) => render(body));
  } else {
    document.addEventListener("DOMContentLoaded", () => render(document.body));
  }
})();

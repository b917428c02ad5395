// Printing a page (or saving it as PDF) is always in the light scheme, with every collapsed block
// (an answer, a details box) open; the reader's scheme and the closed blocks come back afterwards.
(function () {
  "use strict";
  let scheme = null;
  const opened = [];
  window.addEventListener("beforeprint", function () {
    scheme = document.body.getAttribute("data-md-color-scheme");
    if (scheme && scheme !== "default") document.body.setAttribute("data-md-color-scheme", "default");
    document.querySelectorAll("details:not([open])").forEach(function (d) {
      d.open = true;
      opened.push(d);
    });
  });
  window.addEventListener("afterprint", function () {
    if (scheme && scheme !== "default") document.body.setAttribute("data-md-color-scheme", scheme);
    opened.splice(0).forEach(function (d) { d.open = false; });
  });
})();

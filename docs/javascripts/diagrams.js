// Diagrams stay readable on a phone. Loaded in <head> (extra.polyfills), before Material's bundle.
//
// Material draws each Mermaid diagram into a closed shadow root, scaled down to the column's width:
// on a phone a wide flowchart shrinks to a third of its size and its labels to 5 px. Here the root
// is opened (so this script and the tests can reach the drawing), and a diagram that would shrink
// below MIN_SCALE keeps that scale instead, in a box that scrolls sideways (and takes keyboard focus,
// so it can be scrolled without a mouse).
(function () {
  "use strict";
  const MIN_SCALE = 0.75;
  const diagrams = new Set();

  function fit(host) {
    const svg = host.shadowRoot && host.shadowRoot.querySelector("svg");
    if (!svg || !host.isConnected) return;
    const natural = svg.viewBox && svg.viewBox.baseVal ? svg.viewBox.baseVal.width : 0;
    svg.style.removeProperty("width");
    const wide = natural * MIN_SCALE > host.clientWidth;
    if (wide) {
      svg.style.width = `${natural * MIN_SCALE}px`;
      svg.style.maxWidth = "none";
    }
    host.classList.toggle("gl-wide", wide);
    if (wide) {
      host.setAttribute("tabindex", "0");
      host.setAttribute("role", "region");
      host.setAttribute("aria-label", "Diagram, wider than the page: scroll sideways");
    } else {
      ["tabindex", "role", "aria-label"].forEach((a) => host.removeAttribute(a));
    }
  }

  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    if (!(this.classList && this.classList.contains("mermaid"))) return attach.call(this, init);
    const root = attach.call(this, Object.assign({}, init, { mode: "open" }));
    diagrams.add(this);
    // Material fills the root right after attaching it, then puts the host into the page.
    new MutationObserver(() => fit(this)).observe(root, { childList: true });
    requestAnimationFrame(() => fit(this));
    return root;
  };
  addEventListener("resize", () => diagrams.forEach(fit));
})();

// Material draws a code annotation's marker as a link whose number comes from CSS, so the link has
// no accessible name; give each one ("Annotation 1", ...) as Material mounts them.
(function () {
  function label(root) {
    root.querySelectorAll("a.md-annotation__index:not([aria-label])").forEach(function (a) {
      const id = a.querySelector("[data-md-annotation-id]");
      a.setAttribute("aria-label", "Annotation " + (id ? id.getAttribute("data-md-annotation-id") : ""));
    });
  }
  new MutationObserver(function () { label(document); })
    .observe(document.documentElement, { childList: true, subtree: true });
  label(document);
})();

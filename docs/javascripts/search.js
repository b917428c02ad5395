// Search as a reader of this book types it. Loaded in <head> (extra.polyfills), after the
// iframe-worker shim and before Material's bundle, so it wraps whichever Worker Material creates.
//
// 1. A hyphenated term ("top-p", "few-shot", "LLM-as-judge") becomes the phrase of its parts
//    ("top p"), which Material's worker turns into required words without a trailing wildcard. Left
//    alone, the index (which splits words at hyphens) would get "top* p*": two optional words, the
//    second a prefix of every word starting with p, and the term's own section ranked below pages
//    that merely say "pipeline". Stop words ("as") are left out of the phrase: lunr drops them from
//    the index, so requiring one would match nothing.
// 2. A result on the glossary page opens the entry that matched, not the top of the glossary.
// 3. The search index (about 2 MB) is fetched when the reader first goes to search (focus on the
//    search box, or a shared ?q= address), not on every page load: a page that is only read costs
//    neither the download nor the worker building the index.
(function () {
  "use strict";
  // lunr's English stop words, as in Material's search worker (tests/test_site.py keeps them equal).
  const STOP = new Set(["a","able","about","across","after","all","almost","also","am","among","an","and","any","are","as","at","be","because","been","but","by","can","cannot","could","dear","did","do","does","either","else","ever","every","for","from","get","got","had","has","have","he","her","hers","him","his","how","however","i","if","in","into","is","it","its","just","least","let","like","likely","may","me","might","most","must","my","neither","no","nor","not","of","off","often","on","only","or","other","our","own","rather","said","say","says","she","should","since","so","some","than","that","the","their","them","then","there","these","they","this","tis","to","too","twas","us","wants","was","we","were","what","when","where","which","while","who","whom","why","will","with","would","yet","you","your"]);
  const HYPHENATED = /^[\p{L}\p{N}]+(?:-[\p{L}\p{N}]+)+$/u;

  function phrase(word) {
    if (!HYPHENATED.test(word)) return word;
    const parts = word.split("-").filter((part) => !STOP.has(part.toLowerCase()));
    return parts.length > 1 ? '"' + parts.join(" ") + '"' : word;
  }

  // Words outside quotes only: what the reader quoted stays as typed.
  function rewrite(query) {
    return query.split(/("[^"]*")/).map((chunk, i) => (i % 2 ? chunk : chunk.split(/(\s+)/).map(phrase).join("")))
      .join("");
  }

  const Base = window.Worker;
  if (typeof Base === "function") {
    window.Worker = class extends Base {
      postMessage(message, ...rest) {
        // type 2 is Material's search query; every other message passes unchanged.
        if (message && message.type === 2 && typeof message.data === "string") {
          message = Object.assign({}, message, { data: rewrite(message.data) });
        }
        return super.postMessage(message, ...rest);
      }
    };
  }
  window.__bookSearchRewrite = rewrite; // for the tests

  // Material heads each result with its page; on the glossary that head would open the top of a
  // page of a few hundred entries, so it opens the best-matching entry (listed first under it).
  function retarget(root) {
    root.querySelectorAll(".md-search-result__item").forEach((item) => {
      const links = item.querySelectorAll("a.md-search-result__link");
      if (links.length < 2) return;
      const head = new URL(links[0].href, location.href);
      const entry = new URL(links[1].href, location.href);
      if (!/(^|\/)glossary\.html$/.test(head.pathname) || head.hash || !entry.hash) return;
      if (entry.pathname !== head.pathname) return;
      links[0].href = links[1].href;
    });
  }
  // 3. Material asks for the index at load: by XMLHttpRequest when served, by a <script> from disk.
  const INDEX = /\/search\/search_index\.js(on)?$/;
  let wanted = /[?&]q=/.test(location.search);
  const waiting = [];
  function want() {
    if (wanted) return;
    wanted = true;
    waiting.splice(0).forEach((go) => go());
  }
  function later(go) {
    if (wanted) go();
    else waiting.push(go);
  }
  document.addEventListener("focusin", (event) => {
    if (event.target instanceof Element && event.target.matches("input.md-search__input")) want();
  }, true);
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.__bookIndex = INDEX.test(new URL(String(url), location.href).pathname);
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (...args) {
    if (!this.__bookIndex) return send.apply(this, args);
    later(() => send.apply(this, args));
  };
  const append = Node.prototype.appendChild;
  Node.prototype.appendChild = function (node) {
    if (this === document.head && node instanceof HTMLScriptElement && INDEX.test(new URL(node.src, location.href).pathname)) {
      later(() => append.call(this, node));
      return node;
    }
    return append.call(this, node);
  };
  window.__bookSearchWanted = () => wanted; // for the tests

  document.addEventListener("DOMContentLoaded", () => {
    const list = document.querySelector(".md-search-result__list");
    if (list) new MutationObserver(() => retarget(list)).observe(list, { childList: true, subtree: true });
  });
})();

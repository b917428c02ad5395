"""The term linker: first mention per section becomes a tooltip link; protected text is left alone."""

from __future__ import annotations

from bookkit.data import Term
from bookkit.terms import TermLinker

TERMS = [
    Term(term="Attention", slug="attention", tooltip='Weights "x" & y.', definition="."),
    Term(term="Low-rank adaptation", slug="lora", tooltip="Adds low-rank matrices.", definition=".", abbr="LoRA"),
    Term(term="Token", slug="token", tooltip="A unit of text.", definition="."),
]
HREF = "../glossary.html"


def link(html: str) -> tuple[str, set[str]]:
    return TermLinker(TERMS).link(html, HREF)


def test_first_mention_per_section_is_linked_with_its_tooltip():
    out, used = link("<p>Attention and attention.</p><h2>B</h2><p>More attention.</p>")
    assert out.count('class="gl-term"') == 2
    assert out.startswith('<p><a class="gl-term" href="../glossary.html#attention" title="Weights &quot;x&quot; &amp; y.">'
                          "Attention</a> and attention.</p>")
    assert used == {"attention"}


def test_plurals_and_case_rules():
    out, used = link("<p>Two tokens, one LoRA; lora in lower case is not the abbreviation.</p>")
    assert '>tokens</a>' in out and '>LoRA</a>' in out and ">lora</a>" not in out
    assert used == {"token", "lora"}


def test_protected_elements_are_copied_whole():
    protected = ('<pre><code>token <span>attention</span></code></pre>'
                 '<div class="highlight"><div><span>token</span></div><span>attention</span></div>'
                 '<span class="katex"><span><span>token</span></span></span>'
                 '<h3 id="a">Attention</h3><a href="x">token</a><!-- attention <div> -->')
    out, used = link(protected + "<p>token</p>")
    assert out.startswith(protected), "nothing inside code, math, headings, links or comments changes"
    assert out.endswith('<p><a class="gl-term" href="../glossary.html#token" title="A unit of text.">token</a></p>')
    assert used == {"token"}


def test_text_after_a_nested_protected_element_is_linked():
    out, _ = link('<div class="katex"><div><div>x</div></div></div><p>attention</p>')
    assert '<p><a class="gl-term" href="../glossary.html#attention"' in out


def test_an_unclosed_protected_element_protects_the_rest():
    out, used = link("<p>x</p><code>attention token")
    assert "gl-term" not in out and used == set()

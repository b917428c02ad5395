"""Figures are compared on what they show: float noise in SVG text passes, a changed picture fails."""

from __future__ import annotations

from bookkit.figures import same_picture

SVG = ('<svg><defs><clipPath id="p0123456789"><rect x="57.6" y="41.472"/></clipPath></defs>'
       '<path d="M 57.6 345.6 L 103.104521 120.75" clip-path="url(#p0123456789)"/>'
       '<use xlink:href="#m89abcdef01" x="57.6"/><text>loss 0.61</text></svg>')


def test_float_noise_and_rehashed_ids_are_the_same_picture():
    noisy = (SVG.replace("103.104521", "103.104519").replace("p0123456789", "pfedcba9876")
             .replace("m89abcdef01", "m0000000001"))
    assert same_picture(SVG, noisy)


def test_a_moved_point_another_label_or_an_extra_element_is_another_picture():
    assert not same_picture(SVG, SVG.replace("120.75", "121.75"))
    assert not same_picture(SVG, SVG.replace("loss 0.61", "loss 0.60"))
    assert not same_picture(SVG, SVG.replace("</svg>", '<path d="M 1 2"/></svg>'))
    assert not same_picture(SVG, SVG.replace('x="57.6"/><text>', 'x="57.6"/><use xlink:href="#p0123456789"/><text>'))

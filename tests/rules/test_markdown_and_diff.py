"""Members' Markdown is rendered to safe HTML, and the difference between two proposal versions reads as words."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from fundcircle.markdown import ALLOWED_TAGS, render_markdown
from fundcircle.proposals.diff import FieldChange, LineChange, VersionContent, body_changes, field_changes

# --- sanitising ---------------------------------------------------------------------------------------------------

#: Attacks a member could type into a proposal or a comment. None of them may become markup.
XSS_PAYLOADS: list[str] = [
    "<script>alert('xss')</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '"><img src=x onerror=alert(1)>',
    '<a href="#" onclick="alert(1)">click</a>',
    '<b onmouseover="alert(1)">hover</b>',
    "<details open ontoggle=alert(1)>toggle</details>",
    "<body onload=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](javascript&#58;alert(1))",
    "[click](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[click](&#x6A;avascript:alert(1))",
    "[click](jav&#x09;ascript:alert(1))",
    "[click](%6A%61%76%61%73%63%72%69%70%74:alert(1))",
    "[reference][evil]\n\n[evil]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "![image](javascript:alert(1))",
    "![image](JaVaScRiPt:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](DATA:text/html,<script>alert(1)</script>)",
    "![image](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[click](vbscript:msgbox(1))",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    '<object data="javascript:alert(1)"></object>',
    "<embed src=javascript:alert(1)>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    "<style>body { background: url(javascript:alert(1)) }</style>",
    '<div style="position:fixed;inset:0">cover the page</div>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    '[click](https://example.org" onclick="alert(1))',
    "[click](https://example.org 'x\" onmouseover=\"alert(1)')",
    "<a href='javascript:alert(1)'>raw link</a>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<base href=javascript:alert(1)//>",
    "<!--><script>alert(1)</script>-->",
    "```html\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
]

#: Elements that never belong in a member's text, or on any page of the app.
FORBIDDEN_TAGS = {
    "script", "img", "svg", "math", "iframe", "frame", "frameset", "object", "embed", "applet", "style",
    "base", "body", "audio", "video", "source", "details", "marquee", "link",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "background", "poster", "content"}
DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


#: What the app's own page templates use of the forbidden elements, and may keep.
PAGE_ELEMENTS = {"body", "link", "details"}


#: The <link> elements of the app's own pages (base.html): its stylesheet and its favicon, exactly.
OUR_LINKS = (
    {"rel": "stylesheet", "href": "/static/css/app.css"},
    {"rel": "icon", "href": "/static/favicon.svg", "type": "image/svg+xml"},
)


class _MarkupScanner(HTMLParser):
    def __init__(self, allowed_tags: set[str] | None, forbidden_tags: set[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed_tags = allowed_tags
        self.forbidden_tags = forbidden_tags
        self.findings: list[str] = []

    def _our_script(self, attrs: list[tuple[str, str | None]]) -> bool:
        """The app's own script file (`<script src="/static/js/…" defer>`, nothing inline), which page templates
        may load; a member's text can never make one (the sanitiser drops every script element)."""
        named = dict(attrs)
        src = named.get("src") or ""
        return (
            self.allowed_tags is None
            and set(named) <= {"src", "defer"}
            and re.fullmatch(r"/static/js/[a-z_]+\.js", src) is not None
        )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and self._our_script(attrs):
            return
        if tag in self.forbidden_tags or (self.allowed_tags is not None and tag not in self.allowed_tags):
            self.findings.append(f"element <{tag}>")
        if tag == "link" and dict(attrs) not in OUR_LINKS:
            self.findings.append(f"element <link> {attrs}")
        for name, value in attrs:
            if name.startswith("on"):
                self.findings.append(f"event handler {name} on <{tag}>")
            elif name in ("style", "srcdoc"):
                self.findings.append(f"{name} attribute on <{tag}>")
            elif name in URL_ATTRIBUTES and value is not None:
                # The parser has decoded character references already, as a browser does.
                url = _INVISIBLE.sub("", value).lower()
                if url.startswith(DANGEROUS_SCHEMES) or re.search(r"url=\s*(javascript|data|vbscript):", url):
                    self.findings.append(f"{name}={value!r} on <{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def dangerous_markup(html: str, *, allowed_tags: set[str] | None = None) -> list[str]:
    """The dangerous markup in `html` (empty if none): forbidden or unlisted elements, event handlers, style
    attributes, and javascript:/vbscript:/data: URLs. Text that merely shows an attack ("&lt;script&gt;") is safe.

    Without `allowed_tags` it checks a whole page of the app, whose templates have a <body>, the app's
    stylesheet and favicon links, and <details> (all without any handler)."""
    if allowed_tags is None:
        forbidden = FORBIDDEN_TAGS - PAGE_ELEMENTS
    else:
        forbidden = FORBIDDEN_TAGS - allowed_tags
    scanner = _MarkupScanner(allowed_tags, forbidden)
    scanner.feed(html)
    scanner.close()
    return scanner.findings


def test_the_scanner_itself_finds_each_kind_of_dangerous_markup() -> None:
    assert dangerous_markup("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>") == []
    assert dangerous_markup("<script>x</script>") == ["element <script>"]
    assert dangerous_markup('<a href="JaVa&#x09;Script:alert(1)">x</a>') == ["href='JaVa\\tScript:alert(1)' on <a>"]
    assert dangerous_markup('<p onclick="x" style="y">') == ["event handler onclick on <p>", "style attribute on <p>"]
    assert dangerous_markup('<a href="data:text/html,x">') == ["href='data:text/html,x' on <a>"]
    assert dangerous_markup("<span>x</span>", allowed_tags={"p"}) == ["element <span>"]
    assert dangerous_markup("<details open ontoggle=alert(1)>") == ["event handler ontoggle on <details>"]
    assert dangerous_markup('<link rel="import" href="/static/css/app.css">') != []
    assert dangerous_markup('<link rel="stylesheet" href="/static/css/app.css">') == []
    assert dangerous_markup('<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">') == []
    assert dangerous_markup('<link rel="icon" href="https://evil.example/favicon.svg" type="image/svg+xml">') != []


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_xss_payload_survives_rendering_as_markup(payload: str) -> None:
    html = render_markdown(payload)
    assert dangerous_markup(html, allowed_tags=ALLOWED_TAGS) == [], html


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_xss_payload_survives_inside_other_markdown(payload: str) -> None:
    """Wrapped in a list, a quote and a table cell, the payload is still inert."""
    text = f"- item {payload}\n\n> {payload}\n\n| a |\n|---|\n| {payload} |\n\n**{payload}**"
    html = render_markdown(text)
    assert dangerous_markup(html, allowed_tags=ALLOWED_TAGS) == [], html


def test_raw_html_is_shown_as_text_not_dropped() -> None:
    html = render_markdown("Please do not <script>alert(1)</script> here")
    assert html == "<p>Please do not &lt;script&gt;alert(1)&lt;/script&gt; here</p>\n"


def test_a_javascript_link_keeps_its_text_but_is_not_a_link() -> None:
    html = render_markdown("[click me](JaVaScRiPt:alert(1))")
    assert "<a" not in html and "click me" in html


def test_plain_markdown_renders_and_web_links_are_kept_with_a_safe_rel() -> None:
    html = render_markdown(
        "# Plan\n\n**Seeds** and *soil*, ~~weeds~~.\n\n1. dig\n2. sow\n\n"
        '[Our site](https://example.org/a?b=1 "Site") or [write](mailto:seeds@example.org)\n\n'
        "| item | cost |\n|:---|---:|\n| spade | 10 |\n\n`code`\n\n> quoted"
    )
    assert "<h1>Plan</h1>" in html
    assert "<strong>Seeds</strong>" in html and "<em>soil</em>" in html
    assert "<ol>" in html and "<li>dig</li>" in html
    assert (
        '<a href="https://example.org/a?b=1" title="Site" rel="noopener noreferrer nofollow ugc">Our site</a>' in html
    )
    assert '<a href="mailto:seeds@example.org" rel="noopener noreferrer nofollow ugc">write</a>' in html
    assert "<th>cost</th>" in html and "<td>10</td>" in html  # alignment is a style attribute: dropped
    assert "<code>code</code>" in html and "<blockquote>" in html


def test_struck_through_text_stays_struck_through() -> None:
    """The renderer enables strikethrough, so its output element must survive the sanitiser."""
    html = render_markdown("~~weeds~~")
    assert html in ("<p><del>weeds</del></p>\n", "<p><s>weeds</s></p>\n")


def test_images_are_never_rendered_even_from_https() -> None:
    html = render_markdown("![a tracking pixel](https://evil.example/pixel.png)")
    assert "<img" not in html


# --- version diffs ----------------------------------------------------------------------------------------------


def _content(**overrides: object) -> VersionContent:
    values: dict[str, object] = {
        "title": "Seed library",
        "summary": "A shelf of seeds anyone can borrow.",
        "body": "We build a seed library.",
        "amount_minor": 25_000,
        "currency": "EUR",
        "category": "Tools",
        "payee": "Open Collective: seed-library",
    }
    values.update(overrides)
    return VersionContent(**values)  # type: ignore[arg-type]


def test_identical_versions_have_no_field_changes() -> None:
    assert field_changes(_content(), _content()) == []


def test_a_changed_amount_is_shown_as_money_in_the_currency() -> None:
    assert field_changes(_content(), _content(amount_minor=22_050)) == [
        FieldChange("Amount", "250.00 EUR", "220.50 EUR")
    ]


def test_every_changed_short_field_is_listed_in_reading_order() -> None:
    old = _content()
    new = _content(
        title="Seed and tool library",
        summary="Seeds and tools to borrow.",
        amount_minor=30_000,
        category="Learning",
        payee="Ana Lima (invited)",
    )
    assert field_changes(old, new) == [
        FieldChange("Title", "Seed library", "Seed and tool library"),
        FieldChange("Amount", "250.00 EUR", "300.00 EUR"),
        FieldChange("Summary", "A shelf of seeds anyone can borrow.", "Seeds and tools to borrow."),
        FieldChange("Category", "Tools", "Learning"),
        FieldChange("Paid to", "Open Collective: seed-library", "Ana Lima (invited)"),
    ]


def test_fields_keep_the_same_order_whichever_of_them_changed() -> None:
    """The amount has one place in the list, whether or not the title changed too."""
    full_order = [
        change.label for change in field_changes(_content(), _content(title="T", amount_minor=1, summary="S"))
    ]
    assert full_order == ["Title", "Amount", "Summary"]
    without_title = [change.label for change in field_changes(_content(), _content(amount_minor=1, summary="S"))]
    assert without_title == ["Amount", "Summary"]
    only_category = [change.label for change in field_changes(_content(), _content(amount_minor=1, category="X"))]
    assert only_category == ["Amount", "Category"]


def test_a_category_taken_away_reads_none() -> None:
    assert field_changes(_content(), _content(category=None)) == [FieldChange("Category", "Tools", "none")]


def test_body_changes_mark_each_line_same_added_or_removed() -> None:
    old = "We build a seed library.\nIt opens on Saturdays.\nAsk Ana for the key."
    new = "We build a seed library.\nIt opens on Saturdays and Sundays.\nAsk Ana for the key.\nBring a bag."
    assert body_changes(old, new) == [
        LineChange("same", "We build a seed library."),
        LineChange("removed", "It opens on Saturdays."),
        LineChange("added", "It opens on Saturdays and Sundays."),
        LineChange("same", "Ask Ana for the key."),
        LineChange("added", "Bring a bag."),
    ]


def test_body_changes_of_identical_text_are_all_same_and_carry_no_hint_lines() -> None:
    text = "one\ntwo\nthree"
    assert body_changes(text, text) == [LineChange("same", line) for line in ("one", "two", "three")]
    # ndiff's "? " guide lines for near-identical lines never reach the reader.
    assert {line.kind for line in body_changes("colour", "color")} == {"removed", "added"}


def test_body_changes_from_empty_and_to_empty() -> None:
    assert body_changes("", "a\nb") == [LineChange("added", "a"), LineChange("added", "b")]
    assert body_changes("a", "") == [LineChange("removed", "a")]

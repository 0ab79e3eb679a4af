"""A small crawler for the security suite: walks the pages a user can reach, fills every
form with hostile text, and checks each HTML page for markup that could run script."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

PAYLOADS = [
    line for line in (Path(__file__).parent / "xss_payloads.txt").read_text(encoding="utf-8").splitlines() if line
]
#: a valid 個人番号 (check digit 8) typed into free text, in the forms people write it: every
#: separator the detector knows (two spaces, a tab, line breaks, the dashes, ・, ー, −, –, .),
#: full-width digits, and an embedded 「個人番号:…」
MY_NUMBER_TEXTS = [
    "個人番号 1234-5678-9018 の件",
    "123456789018",
    "番号は１２３４５６７８９０１８です",
    "意見です。1234  5678  9018 以上",
    "1234\t5678\t9018",
    "番号\n1234\n5678\n9018\nです",
    "1234\r\n5678\r\n9018",
    "１２３４－５６７８－９０１８",
    "1234・5678・9018",
    "1234ー5678ー9018",
    "1234−5678−9018",
    "1234–5678–9018",
    "1234.5678.9018",
    "1234　5678　9018",
    "連絡先:個人番号:1234 5678 9018",
    "a1234-5678-9018z",
]
#: the refusal a field that needs no 個人番号 shows (common.mynumber.REFUSED)
REFUSAL = "この欄には個人番号を入力できません"

SKIP_PATHS = ("/logout", "/account/password", "/static/")
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "background", "poster"}
FORBIDDEN_TAGS = {"iframe", "object", "embed", "base", "applet", "frame", "frameset"}


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str, str, list[str]]] = field(default_factory=list)  # (tag/type, name, value, options)


class PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: tuple[str, list[str], str] | None = None
        self._textarea: str | None = None
        self._textarea_text = ""

    def handle_starttag(self, tag, attrs):
        attrs_d = {k.lower(): (v or "") for k, v in attrs}
        for name, value in attrs_d.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler attribute")
            if name in URL_ATTRS or name == "style":
                v = "".join(value.split()).lower()
                if (
                    v.startswith("javascript:")
                    or v.startswith("data:text/html")
                    or "javascript:" in v
                    and name == "style"
                ):
                    self.problems.append(f"<{tag} {name}={value[:40]!r}> script URL")
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> element")
        if tag == "meta" and attrs_d.get("http-equiv", "").lower() == "refresh":
            self.problems.append("<meta http-equiv=refresh>")
        if tag == "script" and not attrs_d.get("src", "").startswith("/static/"):
            self.problems.append(f"<script> not from /static/: {attrs_d.get('src', 'inline')!r}")
        if tag == "a" and attrs_d.get("href"):
            self.links.append(attrs_d["href"])
        if tag == "form":
            self._form = Form(action=attrs_d.get("action", ""), method=attrs_d.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is not None:
            name = attrs_d.get("name")
            if tag == "input" and name:
                kind = attrs_d.get("type", "text").lower()
                if (
                    kind in ("checkbox", "radio")
                    and "checked" not in attrs_d
                    and any(f[1] == name for f in self._form.fields)
                ):
                    return
                self._form.fields.append((kind, name, attrs_d.get("value", ""), []))
            elif tag == "select" and name:
                self._select = (name, [], "")
            elif tag == "option" and self._select is not None:
                self._select[1].append(attrs_d.get("value", ""))
            elif tag == "textarea" and name:
                self._textarea, self._textarea_text = name, ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options, _ = self._select
            self._form.fields.append(("select", name, options[0] if options else "", options))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.fields.append(("textarea", self._textarea, self._textarea_text, []))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea_text += data


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser


def fill(form: Form, payload: str, n: int) -> dict:
    data: dict[str, list[str] | str] = {}
    for kind, name, value, _options in form.fields:
        if kind in ("text", "search", "textarea", "email", "url", "tel") and name != "csrf_token":
            data[name] = payload if kind in ("text", "search", "textarea") else value or payload
        elif kind == "number":
            data[name] = value or "1"
        elif kind == "date":
            data[name] = value or "2025-11-12"
        elif kind in ("checkbox", "radio"):
            data.setdefault(name, value or "y")
        elif kind == "select":
            data[name] = value
        elif kind in ("hidden", "submit"):
            if value or kind == "hidden":
                data.setdefault(name, value)
        elif kind == "password":
            data[name] = "Fuzz-password-2025"
        # file inputs are left empty: uploads have their own tests
    return data


def same_site(url: str, *, pdf: bool = False) -> str | None:
    """The path (and query) of a link to a page of ours worth visiting; PDFs too with ``pdf``."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if any(parts.path.startswith(p) for p in SKIP_PATHS):
        return None
    files = (".csv", ".json", ".atom", ".png", ".svg") + (() if pdf else (".pdf",))
    if parts.path.endswith(files):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Tally:
    """What the 個人番号 submissions of a crawl met: fields that refused one."""

    refusals: int = 0
    refused_forms: set[str] = field(default_factory=set)


def crawl(
    client,
    starts,
    *,
    max_pages=150,
    submit_forms=False,
    max_forms=200,
    payload_offset=0,
    tally: Tally | None = None,
    on_page=None,
):
    """Visit pages breadth-first from ``starts``; returns (pages seen, problems, forms submitted, errors).

    With ``submit_forms`` every form is posted twice: once with a payload of the corpus and
    once with a 個人番号 in one of its shapes (``tally`` counts the forms that refused it).
    With ``on_page``, ``on_page(url, response)`` is called for every page answered 200, and
    links to PDFs are followed too (their responses go to ``on_page``, nothing is parsed).
    """
    queue, seen = deque(starts), set()
    problems, errors, submitted = [], [], 0
    forms_done: set[tuple[str, tuple[str, ...]]] = set()
    while queue and len(seen) < max_pages:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code >= 500:
            errors.append(f"GET {url} → {response.status_code}")
        if on_page is not None and response.status_code == 200:
            on_page(url, response)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        page = parse(response.get_data(as_text=True))
        problems.extend(f"{url}: {p}" for p in page.problems)
        for link in page.links:
            target = same_site(urljoin(url, link), pdf=on_page is not None)
            if target and target not in seen:
                queue.append(target)
        if not submit_forms:
            continue
        for form in page.forms:
            if form.method != "post" or submitted >= max_forms:
                continue
            action = same_site(urljoin(url, form.action or url))
            if not action:
                continue
            key = (action.split("?")[0], tuple(sorted(f[1] for f in form.fields)))
            if key in forms_done:
                continue
            forms_done.add(key)
            texts = PAYLOADS + MY_NUMBER_TEXTS
            payload = texts[(submitted + payload_offset) % len(texts)]
            number = MY_NUMBER_TEXTS[(submitted + payload_offset) % len(MY_NUMBER_TEXTS)]
            for text in (payload, number):
                result = client.post(action, data=fill(form, text, submitted))
                if result.status_code >= 500:
                    errors.append(f"POST {action} with {text[:30]!r} → {result.status_code}")
                elif text is number and tally is not None and REFUSAL in result.get_data(as_text=True):
                    tally.refusals += 1
                    tally.refused_forms.add(key[0])
            submitted += 1
    return seen, problems, submitted, errors

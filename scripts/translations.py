"""The message catalogues (fundcircle/translations/): extract the English messages, bring each language up to date,
compile, and list what a language still lacks.

    python scripts/translations.py extract          # fundcircle/translations/messages.pot from the code and templates
    python scripts/translations.py update           # every language's .po from the .pot (new messages untranslated)
    python scripts/translations.py compile          # every .po into its .mo (what the app reads)
    python scripts/translations.py missing [LANG]   # the messages a language lacks, or has only fuzzily
    python scripts/translations.py part NAME PATH...  # i18n-parts/NAME.<lang>.po: the messages of PATHs only
    python scripts/translations.py merge-parts      # fill the languages' catalogues from i18n-parts/*.po

`make translations` runs extract, update and compile. tests/rules/test_translations.py runs the same extraction
and fails on a message that a catalogue lacks, or a .mo older than its .po.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fundcircle.i18n import DEFAULT_LANGUAGE, EXTRACT_KEYWORDS, LANGUAGES  # noqa: E402

PACKAGE = ROOT / "fundcircle"
CATALOGUES = PACKAGE / "translations"
TEMPLATE = CATALOGUES / "messages.pot"
PARTS = ROOT / "i18n-parts"
METHODS = [("**/templates/**.html", "jinja2"), ("**/templates/**.txt", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"trimmed": "true"}, "**/templates/**.txt": {"trimmed": "true"}}


def _keywords() -> dict[str, object]:
    from babel.messages.extract import DEFAULT_KEYWORDS
    from babel.messages.frontend import parse_keywords

    keywords: dict[str, object] = dict(DEFAULT_KEYWORDS)
    keywords.update(parse_keywords(list(EXTRACT_KEYWORDS)))
    return keywords


def _add(catalog: Catalog, found: Iterable[tuple[str, int, object, list[str], object]], base: Path) -> None:
    for filename, lineno, message, comments, context in found:
        path = Path(filename)
        where = str(path.relative_to(base) if path.is_absolute() else path)
        catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)  # type: ignore[arg-type]


def extracted(paths: Iterable[Path] | None = None) -> Catalog:
    """Every message of the package (or of `paths` only), in English."""
    catalog = Catalog(project="Fund Circle", locale=DEFAULT_LANGUAGE, fuzzy=False)
    keywords = _keywords()
    if paths is None:
        migrations = PACKAGE / "migrations"
        found = extract_from_dir(
            str(PACKAGE), METHODS, OPTIONS, keywords, directory_filter=lambda d: not d.startswith(str(migrations))
        )
        _add(catalog, ((str(PACKAGE / f), *rest) for f, *rest in found), ROOT)  # type: ignore[misc]
        return catalog
    for path in paths:
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            method = "python" if file.suffix == ".py" else "jinja2" if file.suffix in (".html", ".txt") else None
            if method is None:
                continue
            options = {"trimmed": "true"} if method == "jinja2" else {}
            found = extract_from_file(method, str(file), keywords, options=options)
            _add(catalog, ((str(file.resolve()), *rest) for rest in found), ROOT)  # type: ignore[misc]
    return catalog


def po_path(language: str) -> Path:
    return CATALOGUES / language / "LC_MESSAGES" / "messages.po"


def read(path: Path, language: str) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language)


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalog, width=120, sort_output=False, omit_header=False)


def translated_languages() -> list[str]:
    return [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]


def missing(catalog: Catalog, template: Catalog) -> list[str]:
    """The message ids of `template` that `catalog` lacks, leaves empty or marks fuzzy."""
    lacking = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        strings = found.string if found is not None else None
        values = list(strings) if isinstance(strings, (list, tuple)) else [strings]
        if found is None or found.fuzzy or not all(values):
            lacking.append(message.id if isinstance(message.id, str) else message.id[0])
    return lacking


def extract() -> Catalog:
    template = extracted()
    write(template, TEMPLATE)
    return template


def update() -> None:
    template = read(TEMPLATE, DEFAULT_LANGUAGE)
    for language in translated_languages():
        path = po_path(language)
        catalog = read(path, language) if path.exists() else Catalog(locale=language, project="Fund Circle")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        write(catalog, path)


def compile_all() -> None:
    for language in translated_languages():
        catalog = read(po_path(language), language)
        with po_path(language).with_suffix(".mo").open("wb") as file:
            write_mo(file, catalog, use_fuzzy=False)


def part(name: str, paths: list[str]) -> None:
    """Catalogues of the messages of `paths` alone, for translating an area in parallel with others."""
    template = extracted([Path(p).resolve() for p in paths])
    PARTS.mkdir(exist_ok=True)
    for language in translated_languages():
        path = PARTS / f"{name}.{language}.po"
        catalog = read(path, language) if path.exists() else Catalog(locale=language, project="Fund Circle")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        write(catalog, path)
        print(f"{path}: {len(missing(catalog, template))} of {len(template)} messages untranslated")


def merge_parts() -> None:
    for language in translated_languages():
        catalog = read(po_path(language), language)
        for path in sorted(PARTS.glob(f"*.{language}.po")):
            for message in read(path, language):
                if not message.id or not message.string or message.fuzzy:
                    continue
                target = catalog.get(message.id, message.context)
                strings = target.string if target is not None else None
                values = list(strings) if isinstance(strings, (list, tuple)) else [strings]
                if target is not None and not all(values):
                    target.string = message.string
        write(catalog, po_path(language))


def main(arguments: list[str]) -> int:
    command, rest = (arguments[0], arguments[1:]) if arguments else ("", [])
    if command == "extract":
        print(f"{TEMPLATE}: {len(extract())} messages")
    elif command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "missing":
        template = read(TEMPLATE, DEFAULT_LANGUAGE)
        failed = False
        for language in rest or translated_languages():
            lacking = missing(read(po_path(language), language), template)
            failed = failed or bool(lacking)
            print(f"{language}: {len(lacking)} of {len(template)} messages untranslated")
            for message_id in lacking:
                print(f"  {message_id!r}")
        return 1 if failed else 0
    elif command == "part" and len(rest) >= 2:
        part(rest[0], rest[1:])
    elif command == "merge-parts":
        merge_parts()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

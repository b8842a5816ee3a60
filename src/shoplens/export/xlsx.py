"""A streaming xlsx writer: Arrow batches in, the workbook's bytes out as they are made.

An xlsx file is a zip of XML parts. This writes the parts a spreadsheet needs and no more
(workbook, one or more worksheets with inline strings, a style sheet with a bold header and
a date-time format) through :mod:`zipfile` on a write-only sink, so each batch's rows are
compressed and handed on before the next batch is read — no temporary file, memory bounded
by one batch. Cells are built column-wise with Arrow compute (escaping, number text, Excel
date serials), which is what makes it fast; a per-cell Python writer (xlsxwriter) managed
about 5,000 rows/s on a 28-column export here.

TRICKY: the parts after the sheets (workbook, content types) list the sheets, whose number
is known only at the end: a zip's order of entries is free (readers use its central
directory), so they are written last. A sheet holds at most 1,048,576 rows: after
:data:`SHEET_ROWS` data rows the export continues on a new sheet (``orders``, ``orders 2``
…), each with the header row. Text is a cell's text, never a formula. Characters XML 1.0
cannot carry (control characters other than tab and line breaks) become U+FFFD.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa
import pyarrow.compute as pc

#: Data rows per sheet after its header row (Excel's limit is 1,048,576 rows a sheet).
SHEET_ROWS = 1_048_575
#: Uncompressed XML bytes per sheet: a zip entry of 4 GiB or more needs ZIP64, and Excel
#: reads only its own narrow dialect of ZIP64 (not the one zipfile streams), so a sheet
#: that would grow past this continues on a new one too.
SHEET_BYTES = 3_500_000_000
_MS_PER_DAY = 86_400_000
_EXCEL_EPOCH_DAYS = 25_569  # 1970-01-01 as an Excel (1900 system) serial day
_INVALID_XML = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}]"  # (RE2 syntax)
_HEADER_STYLE, _TIME_STYLE = 1, 2
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _letters(index: int) -> str:
    """A column's letters: 0 → A, 25 → Z, 26 → AA."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _text(column: pa.Array) -> pa.Array:
    """String values escaped for XML element text."""
    column = pc.replace_substring_regex(column, _INVALID_XML, "\ufffd")
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        column = pc.replace_substring(column, raw, entity)
    return column


def _cells(column: pa.Array, letter: str, rows: pa.Array) -> pa.Array:
    """Each value's ``<c>`` element (empty text for a missing value or empty string)."""
    ref = pc.binary_join_element_wise(f'<c r="{letter}', rows, "")
    if pa.types.is_timestamp(column.type):
        ms = pc.cast(column, pa.int64())  # ms since the epoch (the export's unit)
        serial = pc.add(pc.divide(pc.cast(ms, pa.float64()), _MS_PER_DAY), _EXCEL_EPOCH_DAYS)
        parts = [f'" s="{_TIME_STYLE}"><v>', pc.cast(serial, pa.string()), "</v></c>"]
    elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        parts = ['"><v>', pc.cast(column, pa.string()), "</v></c>"]
    else:
        text = _text(pc.cast(column, pa.string()))
        column = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        parts = ['" t="inlineStr"><is><t xml:space="preserve">', column, "</t></is></c>"]
    cells = pc.binary_join_element_wise(ref, *parts, "")
    return pc.fill_null(cells, "")


def _rows_xml(batch: pa.RecordBatch, first_row: int) -> bytes:
    """The ``<row>`` elements of ``batch``, the first being sheet row ``first_row``."""
    numbers = pc.cast(pa.array(range(first_row, first_row + batch.num_rows)), pa.string())
    cells = [_cells(col, _letters(i), numbers) for i, col in enumerate(batch.columns)]
    opening = pc.binary_join_element_wise('<row r="', numbers, '">', "")
    rows = pc.binary_join_element_wise(opening, *cells, "</row>", "")
    if not len(rows):
        return b""
    # The rows' text laid end to end is the data buffer between the first and last offset.
    _, offset_buffer, data_buffer = rows.buffers()
    offsets = pa.Array.from_buffers(
        pa.int32(), len(rows) + 1, [None, offset_buffer], offset=rows.offset
    )
    start, end = offsets[0].as_py(), offsets[len(rows)].as_py()
    data: bytes = data_buffer.slice(start, end - start).to_pybytes()
    return data


def _header_xml(names: list[str]) -> bytes:
    cells = "".join(
        f'<c r="{_letters(i)}1" s="{_HEADER_STYLE}" t="inlineStr">'
        f"<is><t>{escape(name)}</t></is></c>"
        for i, name in enumerate(names)
    )
    return f'<row r="1">{cells}</row>'.encode()


_SHEET_OPEN = f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData>'.encode()
_SHEET_CLOSE = b"</sheetData></worksheet>"

_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss.000"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _package_parts(titles: list[str]) -> dict[str, str]:
    """The parts that list the sheets: workbook, its relationships, content types."""
    sheets = "".join(
        f'<sheet name={quoteattr(t)} sheetId="{i}" r:id="rId{i}"/>' for i, t in enumerate(titles, 1)
    )
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(titles) + 1)
    )
    styles_id = len(titles) + 1
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(titles) + 1)
    )
    return {
        "xl/workbook.xml": f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
        f"<sheets>{sheets}</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": f'{_XML}<Relationships xmlns="{_PKG_REL}">{rels}'
        f'<Relationship Id="rId{styles_id}" Type="{_REL}/styles" Target="styles.xml"/>'
        "</Relationships>",
        "xl/styles.xml": _STYLES,
        "_rels/.rels": f'{_XML}<Relationships xmlns="{_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "[Content_Types].xml": f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        f"{overrides}</Types>",
    }


def write_xlsx(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], title: str, sink: Any
) -> Iterator[None]:
    """Write the workbook into ``sink`` (write-only), yielding after each batch so the
    caller can take the bytes written so far. Sheet titles: ``title``, ``title 2`` …"""
    titles: list[str] = []
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        sheet: Any = None

        def next_sheet() -> Any:
            if sheet is not None:
                sheet.write(_SHEET_CLOSE)
                sheet.close()
            titles.append(title if not titles else f"{title} {len(titles) + 1}")
            opened = book.open(f"xl/worksheets/sheet{len(titles)}.xml", "w")
            opened.write(_SHEET_OPEN + _header_xml(schema.names))
            return opened

        try:
            sheet, row, size = next_sheet(), 0, 0  # an empty export is a sheet with its header
            for batch in batches:
                done = 0
                while done < batch.num_rows:
                    if row == SHEET_ROWS:
                        sheet, row, size = next_sheet(), 0, 0
                    part = batch.slice(done, SHEET_ROWS - row)
                    xml = _rows_xml(part, row + 2)  # sheet row 1 is the header
                    if row and size + len(xml) > SHEET_BYTES:
                        sheet, row, size = next_sheet(), 0, 0
                        continue  # (the rows are numbered again for the new sheet)
                    sheet.write(xml)
                    row, size, done = row + part.num_rows, size + len(xml), done + part.num_rows
                yield
            sheet.write(_SHEET_CLOSE)
        finally:
            # Closed before the zip, or an error here would be hidden by the zip's own.
            if sheet is not None:
                sheet.close()
        for name, text in _package_parts(titles).items():
            book.writestr(name, text)
    yield

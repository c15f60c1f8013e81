"""The smallest valid PDF file around a list of objects, for the fixture generators
(tests/invoices/make_invoices.py, tests/corpus_sent/make_sent.py)."""

from __future__ import annotations


def assemble_pdf(objects: list[bytes], version: bytes = b"1.4") -> bytes:
    """Objects numbered from 1 (object 1 is the catalog), a cross-reference table with
    their byte offsets, and the trailer (PDF 32000-1 §7.5)."""
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)

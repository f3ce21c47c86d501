#!/usr/bin/env python3
"""Small real PDFs for the demo catalog's forms and result samples, deterministically.

    python3 services/catalog/seed/forms_pdf.py TITLE KIND > FILE.pdf

Stdlib only: the same title and kind always give the same bytes (no dates, no random
/ID), so gen_demo.py writes their real SHA-256 and size into demo.sql, and `./dev up`
(and the end-to-end tests) store the same files in yw-files (gen_demo.py --files DIR).

A page of A4 with the title, the kind (空表 blank form, 样表 filled-in sample, 样本
sample of a result) and, for a form, a grid of fields, empty or filled in. The text is
in the Adobe-GB1 font STSong-Light with the UniGB-UCS2-H encoding, one of the standard
CJK fonts every PDF reader supplies, so no font is embedded and the file stays small.
"""

import sys

PAGE_W, PAGE_H = 595, 842
FIELDS = [("姓名", "张三"), ("公民身份号码", "320706199001011230"), ("联系电话", "138****5678"),
          ("住址", "连云港市海州区朝阳东路32号"), ("申请事项", None), ("申请人签名", "张三"),
          ("日期", "2026年1月5日")]


def _hex(text):
    """A PDF hex string of text in UCS-2 big-endian (UniGB-UCS2-H)."""
    return "<" + "".join("%04X" % ord(ch) for ch in text if ord(ch) < 0x10000) + ">"


def _content(title, kind):
    ops = ["BT", "/F1 20 Tf", f"72 760 Td {_hex(title)} Tj", "ET",
           "BT", "/F1 12 Tf", f"72 735 Td {_hex('（' + kind + '）  连云港市政务服务 · 演示文件')} Tj", "ET",
           "0.5 w"]
    if kind == "样本":
        ops += ["72 420 451 280 re S",
                "BT", "/F1 16 Tf", f"110 640 Td {_hex(title)} Tj", "ET",
                "BT", "/F1 12 Tf", f"110 600 Td {_hex('编号：320700-2026-000001')} Tj", "ET",
                "BT", "/F1 12 Tf", f"110 570 Td {_hex('持有人：张三')} Tj", "ET",
                "BT", "/F1 12 Tf", f"110 450 Td {_hex('（样本，仅供参考，不作为凭证使用）')} Tj", "ET"]
    else:
        y = 690
        for label, value in FIELDS:
            value = title if value is None else value
            ops += [f"72 {y - 8} 451 30 re S", f"190 {y - 8} m 190 {y + 22} l S",
                    "BT", "/F1 11 Tf", f"80 {y + 2} Td {_hex(label)} Tj", "ET"]
            if kind == "样表":
                ops += ["BT", "/F1 11 Tf", f"200 {y + 2} Td {_hex(value)} Tj", "ET"]
            y -= 30
        if kind == "样表":
            ops += ["BT", "/F1 10 Tf", f"72 {y - 10} Td {_hex('填写说明：以上为填写示例，请按本人实际情况填写。')} Tj", "ET"]
    return "\n".join(ops).encode("ascii")


def pdf(title, kind):
    """The bytes of a one-page PDF for a form (kind 空表 or 样表) or a result (样本)."""
    content = _content(title, kind)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}]"
         " /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>").encode("ascii"),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H"
        b" /DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >>"
        b" /FontDescriptor 7 0 R >>",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6"
        b" /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120"
        b" /CapHeight 880 /StemV 93 >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: forms_pdf.py TITLE KIND")
    sys.stdout.buffer.write(pdf(sys.argv[1], sys.argv[2]))

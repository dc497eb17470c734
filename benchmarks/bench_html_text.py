"""HTML → text: mailcore.html_text against html2text and inscriptis (when installed).

Prints, for a transactional email (~6 KB of HTML with a table layout, list, links, an image and
a <style> block): conversions per second (best of 5 runs of 200), the import time of each
converter in a fresh interpreter, and the first lines of each output. Run::

    python benchmarks/bench_html_text.py      # pip install html2text inscriptis to compare
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

ROW = (
    "<tr><td style='padding:4px'>Item {i}</td><td>1</td>"
    "<td><a href='https://shop.example.com/items/{i}'>details</a></td></tr>"
)
HTML = (
    "<html><head><style>p {{ color: #333 }} td {{ font-family: sans-serif }}</style><title>Receipt</title></head>"
    "<body><table width='100%'><tr><td><img src='cid:logo' alt='Example Shop'></td></tr></table>"
    "<h1>Thanks for your order, Ann!</h1><p>Your order <b>#48213</b> is confirmed &amp; will ship soon.</p>"
    "<table>{rows}</table><ul><li>Free returns for 30 days</li><li>Questions? "
    "<a href='mailto:help@example.com'>help@example.com</a></li></ul>"
    "<p>Track it <a href='https://shop.example.com/track/48213'>here</a>.<br>The Example team</p>"
    "<hr><p style='font-size:11px'>You get this because you bought at Example Shop. "
    "<a href='https://shop.example.com/unsubscribe'>Unsubscribe</a></p></body></html>"
).format(rows="".join(ROW.format(i=i) for i in range(40)))


def converters() -> dict[str, object]:
    from mailcore.html_text import html_to_text

    found: dict[str, object] = {"mailcore.html_text": html_to_text}
    if importlib.util.find_spec("html2text"):
        import html2text

        found["html2text (GPL-3.0)"] = html2text.html2text
    if importlib.util.find_spec("inscriptis"):
        import inscriptis

        found["inscriptis (Apache-2.0, lxml)"] = inscriptis.get_text
    return found


def rate(convert) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(200):
            convert(HTML)
        best = min(best, time.perf_counter() - started)
    return 200 / best


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out)


def main() -> None:
    modules = {"mailcore.html_text": "mailcore.html_text", "html2text": "html2text", "inscriptis": "inscriptis"}
    print(f"Python {sys.version.split()[0]}, input {len(HTML):,} characters of HTML")
    print(f"{'converter':32} {'per second':>11} {'import ms':>10}")
    for name, convert in converters().items():
        module = modules[name.split()[0]]
        print(f"{name:32} {rate(convert):11,.0f} {import_seconds(module) * 1000:10.1f}")
    for name, convert in converters().items():
        print(f"\n--- {name}\n" + "\n".join(str(convert(HTML)).splitlines()[:12]))


if __name__ == "__main__":
    main()

"""Checks that the Swift snippets of bindings/README.md use only what the generated Swift
sources declare (Swift cannot be compiled here): every `wallet.method(label:` call, every type
constructed, every enum case and every protocol method.

    snippet_check.py README GENERATED.swift...

The generated sources are those of the app's Doze module: Doze.swift and DozeCore.swift
(doze-core's records and enums)."""

import pathlib
import re
import sys

readme = pathlib.Path(sys.argv[1]).read_text()
generated = "\n".join(pathlib.Path(p).read_text() for p in sys.argv[2:])
assert generated.strip(), "no generated Swift source given"
code = "\n".join(re.findall(r"```swift\n(.*?)```", readme, re.S))
assert code.strip(), "no Swift snippet in the README"
code = re.sub(r"//[^\n]*", "", code)  # comments
code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', code)  # string literals
# Doze.swift puts doc comments between the labels of a signature: drop them.
flat = re.sub(r"/\*\*.*?\*/", "", generated, flags=re.S)
flat = re.sub(r"\s+", " ", flat)
problems = []

for method, label in re.findall(r"\bwallet\.([a-zA-Z0-9]+)\((?:([a-zA-Z0-9]+):)?", code):
    wanted = f"func {method}({label}:" if label else f"func {method}()"
    if wanted not in flat:
        problems.append(f"Doze.swift has no `{wanted}`")
for type_name, label in re.findall(r"\b([A-Z][A-Za-z0-9]+)\(\s*([a-zA-Z0-9]+):", code):
    if not re.search(rf"(struct|class) {type_name}\b", flat):
        problems.append(f"Doze.swift declares no type {type_name}")
    elif f"init( {label}:" not in flat and f"init({label}:" not in flat:
        problems.append(f"{type_name} has no initializer starting with `{label}:`")
for case in re.findall(r"(?<![A-Za-z0-9_\"])\.([a-zA-Z][A-Za-z0-9]*)\b(?!\()", code) + re.findall(r"(?<![A-Za-z0-9_\"])\.([a-zA-Z][A-Za-z0-9]*)\(", code):
    if case in {"bolt11", "kind", "blocker", "notificationText"}:
        continue  # properties, checked below
    if f"case {case}" not in flat:
        problems.append(f"Doze.swift has no enum case `{case}`")
for prop in re.findall(r"\b(?:invoice|quote|outcome|event)\.([a-zA-Z0-9]+)", code):
    if not re.search(rf"public (?:var|let) {prop}\b", flat):
        problems.append(f"Doze.swift has no property `{prop}`")
for proto in re.findall(r":\s*([A-Z][A-Za-z]+)\s*\{", code):
    if f"public protocol {proto}" not in flat:
        problems.append(f"Doze.swift has no protocol {proto}")
for func, label, typ in re.findall(r"func ([a-z][A-Za-z0-9]*)\(([a-z][A-Za-z0-9]*): ([A-Z][A-Za-z0-9]*)\)", code):
    if func != "firstPayment" and f"func {func}({label}: {typ})" not in flat:
        problems.append(f"Doze.swift has no protocol method `func {func}({label}: {typ})`")
for error in re.findall(r"as ([A-Z][A-Za-z]+Error)\b", code):
    if f"public enum {error}" not in flat:
        problems.append(f"Doze.swift has no error {error}")

print("\n".join(problems) if problems else "the Swift snippets use only declared API")
sys.exit(1 if problems else 0)

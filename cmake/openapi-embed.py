#!/usr/bin/env python3
"""openapi-embed.py YAML OUT.c OUT.json — the build step that turns docs/openapi.yaml (the one
source of truth of the serve API's description) into the JSON `hookd serve` answers at
GET /openapi.json: OUT.c defines serve_openapi_json / serve_openapi_json_len (src/openapi.h),
OUT.json is the same text for the package and for tools. Needs python3-yaml (scripts/deps.sh
build). The JSON is compact, its keys in the YAML's order."""
import json
import sys

import yaml


def main():
    src, out_c, out_json = sys.argv[1:4]
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or "openapi" not in doc or "paths" not in doc:
        sys.exit(f"{src}: not an OpenAPI document (no openapi/paths)")
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    with open(out_json, "wb") as f:
        f.write(text + b"\n")
    lines = []
    for i in range(0, len(text), 16):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in text[i:i + 16]) + ",")
    with open(out_c, "w", encoding="ascii") as f:
        f.write(f"/* Generated from {src.split('/')[-1]} by cmake/openapi-embed.py: do not edit. */\n")
        f.write('#include "openapi.h"\n\n')
        f.write("const char serve_openapi_json[] = {\n" + "\n".join(lines) + "\n    0x00};\n")
        f.write(f"const size_t serve_openapi_json_len = {len(text)};\n")


if __name__ == "__main__":
    main()

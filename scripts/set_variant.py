#!/usr/bin/env python3
"""Turn the checkout into a backend variant before building its wheels.

    python scripts/set_variant.py cu12|cu13

cuNN: distribution `llama-mtp-cuNN` (import name stays `llama_mtp`), CUDA backend by
default, and the CUDA runtime libraries of that major version as dependencies from the
official nvidia-* wheels. A plain `pip install llama-mtp` never gets a CUDA build by accident.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
VARIANTS = {
    "cu12": {
        "name": "llama-mtp-cu12",
        "backend": "cuda",
        "deps": ['"nvidia-cuda-runtime-cu12>=12.4,<13"', '"nvidia-cublas-cu12>=12.4,<13"'],
    },
    "cu13": {
        "name": "llama-mtp-cu13",
        "backend": "cuda",
        "deps": ['"nvidia-cuda-runtime>=13.0,<14"', '"nvidia-cublas>=13.0,<14"'],
    },
}


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        print(f"usage: set_variant.py {{{','.join(VARIANTS)}}}", file=sys.stderr)
        return 2
    v = VARIANTS[sys.argv[1]]
    text = PYPROJECT.read_text()
    text = re.sub(r'^name = "llama-mtp"$', f'name = "{v["name"]}"', text, count=1, flags=re.M)
    text = re.sub(
        r"^dependencies = \[(.*)\]$",
        lambda m: f"dependencies = [{m.group(1)}, {', '.join(v['deps'])}]",
        text,
        count=1,
        flags=re.M,
    )
    text = text.replace(
        'LLAMA_MTP_BACKEND = { env = "LLAMA_MTP_BACKEND", default = "cpu" }',
        f'LLAMA_MTP_BACKEND = {{ env = "LLAMA_MTP_BACKEND", default = "{v["backend"]}" }}',
    )
    PYPROJECT.write_text(text)
    print(f"pyproject.toml now builds {v['name']} ({v['backend']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

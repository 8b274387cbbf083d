"""moto's server for benchmarks whose table is large: `python -m benchmarks.moto_server`.

To roll a failed TransactWriteItems back, moto deep-copies the whole table once per item
of every transaction. With tens of thousands of items (10,000 assets, 10,000 targets per
download) that is seconds to minutes and gigabytes per call — a cost DynamoDB does not
have, which would swamp what the benchmark measures. So the server runs with the local
stack's hardening (carton_local.hardening): transactions roll back from a journal of the
items they touch, and the emulator is safe for concurrent requests.
"""

from __future__ import annotations

import sys

from moto.server import main

from carton_local.hardening import harden

harden()

if __name__ == "__main__":
    main(sys.argv[1:])

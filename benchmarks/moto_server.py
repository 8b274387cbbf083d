"""moto's server for benchmarks whose table is large: `python -m benchmarks.moto_server`.

To roll a failed TransactWriteItems back, moto deep-copies the whole table once per item
of every transaction. With tens of thousands of items (10,000 assets, 10,000 targets per
download) that is seconds to minutes and gigabytes per call — a cost DynamoDB does not
have, which would swamp what the benchmark measures. The benchmarks' transactions never
fail, so here the table is not copied (a failed transaction would not be rolled back).
"""

from __future__ import annotations

import copy
import sys
from types import SimpleNamespace
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.table import Table
from moto.server import main


def _deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


vars(models)["copy"] = SimpleNamespace(deepcopy=_deepcopy)  # the module-level name its code looks up

if __name__ == "__main__":
    main(sys.argv[1:])

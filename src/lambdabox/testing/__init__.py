"""Testing your code against lambdabox: a server in your test process or a subprocess, on a clock
your test moves.

- `LocalLambdabox`: the server on a background thread of this process (fast to start);
- `LambdaboxProcess`: `lambdabox serve --clock manual --port 0` as a subprocess (as users run it);
- `Lambdabox`: what both offer: `url`, `client(service)`, `now()`, `advance(seconds or "PT2M")`,
  `set(epoch)`, `settle()`, `inject_fault(**fault)`, `clear_faults()`;
- pytest fixtures giving one of each per test: `lambdabox.pytest_plugin` (loaded by pytest
  wherever lambdabox is installed).
"""

from lambdabox.testing.handle import AdminError, Lambdabox
from lambdabox.testing.local import LocalLambdabox
from lambdabox.testing.process import LambdaboxProcess

__all__ = ["AdminError", "Lambdabox", "LambdaboxProcess", "LocalLambdabox"]

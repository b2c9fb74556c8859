"""Allow `python -m lambdabox`."""

from lambdabox.cli import main

raise SystemExit(main())

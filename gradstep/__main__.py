"""``python -m gradstep``: the same as the ``gradstep`` command."""

from gradstep.cli import main

raise SystemExit(main())

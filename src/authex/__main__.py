"""``python -m authex`` is the ``authex`` command."""

from authex.cli.main import main

raise SystemExit(main())

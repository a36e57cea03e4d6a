"""``python -m jukinet`` is the ``jukinet`` command."""

from jukinet.interfaces.cli.app import main

main()

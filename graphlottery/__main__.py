"""``python -m graphlottery``: the ``graphlottery`` command."""
from graphlottery.cli import entry

entry()

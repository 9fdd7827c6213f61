"""``python -m graphlottery``: the ``graphlottery`` command."""
from graphlottery.cli import entry

if __name__ == "__main__":  # not when a spawned worker (bench --jobs N) imports this module again
    entry()

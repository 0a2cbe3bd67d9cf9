"""``python -m agents.demo worker ...``: the entry point of the demo's worker processes."""

import sys

from agents.demo.worker import main

if sys.argv[1:2] == ["worker"]:
    sys.exit(main(sys.argv[2:]))
sys.exit("usage: python -m agents.demo worker --hold-at ISO --stop-at ISO")

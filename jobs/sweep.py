"""`ray job submit --working-dir . -- python jobs/sweep.py EXPERIMENT [--resume]`: a Tune sweep
on the cluster, as `raylab sweep` does locally."""

import sys

from raylab.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))

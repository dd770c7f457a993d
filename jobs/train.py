"""`ray job submit --working-dir . -- python jobs/train.py EXPERIMENT [--set k=v ...]`.

Runs on the cluster's job driver and does what `raylab train` does; Ray connects through the
RAY_ADDRESS the job supervisor sets. Point --set workdir= at shared storage and MLFLOW_TRACKING_URI
at the cluster's tracking server so results outlive the job's temporary working directory.
"""

import sys

from raylab.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))

#!/bin/bash
# Submits the array (one shard per task) and the merge that waits for all of it.
# Run from the directory that holds job.toml (or set BLOCKSPIN_JOB); see README.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
array=$(sbatch --parsable "$@" "$here/array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" "$here/merge.sbatch")
merge=${merge%%;*}
echo "array job $array, merge job $merge"

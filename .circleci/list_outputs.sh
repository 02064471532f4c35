#!/bin/bash
# Print the files of a regionseries output folder, one relative path per line,
# byte-sorted, without logs/ (their names carry a time stamp and a process id).
# Report figures are not listed one by one (their names and number belong to the
# report layout and depend on the data): each non-empty figures folder is listed
# once, as "<folder>/figures/". CI compares this with .circleci/demo_outputs.txt;
# after an intended change of the outputs, regenerate that file from the demo
# job's artifacts (or a local run of the same two commands) with:
#   .circleci/list_outputs.sh OUTPUT_DIR > .circleci/demo_outputs.txt
set -euo pipefail
cd "${1:?usage: list_outputs.sh OUTPUT_DIR}"
{
    find . -type f ! -path './logs/*' ! -path '*/figures/*' | sed 's|^\./||'
    find . -type d -name figures ! -empty | sed 's|^\./||; s|$|/|'
} | LC_ALL=C sort

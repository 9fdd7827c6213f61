#!/usr/bin/env bash
# Install graphlottery with its test tools. torch is installed first, pinned to 2.13.0 (on the
# project's machines a CPU wheel of it is on disk), so that no dependency pulls a newer torch
# with its CUDA packages. Elsewhere, install the torch build you want first: 2.13.0 satisfies it.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[test]"

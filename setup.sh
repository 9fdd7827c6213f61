#!/usr/bin/env bash
# Install graphlottery with its test tools. torch is installed first, pinned to the CPU
# build this machine carries, so that no dependency pulls a CUDA build of torch.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[test]"

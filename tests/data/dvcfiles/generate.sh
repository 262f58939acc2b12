#!/bin/sh
# Regenerates this folder's .dvc files with real DVC 3 (what `dvc add`, `dvc import` and
# `dvc import-url` write). Usage: sh generate.sh /path/to/dvc   (writes into ./project)
set -eu
DVC=${1:-dvc}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=/tmp/dvcfiles-source
rm -rf "$SRC" "$HERE/project.tmp"
mkdir -p "$SRC" && cd "$SRC" && git init -q && git config user.email t@t && git config user.name t
"$DVC" init -q && mkdir -p shared && printf 'id,v\n1,2\n' > shared/table.csv
"$DVC" add -q shared/table.csv && git add -A && git commit -qm source
printf 'remote body\n' > "$SRC/remote.txt"
mkdir -p "$HERE/project.tmp" && cd "$HERE/project.tmp" && git init -q
"$DVC" init -q
mkdir -p data/raw/sub models
printf 'hello\n' > data/one.csv
printf 'a\n' > data/raw/a.txt
printf 'b\n' > data/raw/sub/b.txt
printf 'weights\r\n' > models/model.bin
"$DVC" add -q data/one.csv data/raw
"$DVC" add -q models/model.bin
"$DVC" import -q "$SRC" shared/table.csv -o data/table.csv
"$DVC" import-url -q "$SRC/remote.txt" data/remote.txt
rm -rf .git .dvc .dvcignore
rm -rf "$HERE/project" && mv "$HERE/project.tmp" "$HERE/project"

"$CAIRN" hash --json

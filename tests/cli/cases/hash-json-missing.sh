"$CAIRN" hash --json nope.bin

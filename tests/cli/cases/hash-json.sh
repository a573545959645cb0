"$CAIRN" hash --json 0.bin 2.bin

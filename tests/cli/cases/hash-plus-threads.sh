"$CAIRN" hash --threads +3 0.bin

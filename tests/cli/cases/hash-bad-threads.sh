"$CAIRN" hash --threads lots 0.bin

"$CAIRN" hash --frob 0.bin

"$CAIRN" hash . 3.bin

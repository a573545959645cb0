"$CAIRN" chunks 0.bin 1.bin

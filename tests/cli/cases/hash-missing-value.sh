"$CAIRN" hash 0.bin --threads

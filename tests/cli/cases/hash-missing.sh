"$CAIRN" hash 0.bin nope.bin 3.bin

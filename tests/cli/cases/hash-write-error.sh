"$CAIRN" hash 0.bin > /dev/full

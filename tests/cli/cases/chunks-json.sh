"$CAIRN" chunks --json 3.bin 2.bin

"$CAIRN" hash --threads 1 0.bin 1.bin > a.txt
"$CAIRN" hash --threads 2 0.bin 1.bin > b.txt
cmp a.txt b.txt && echo same

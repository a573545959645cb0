"$CAIRN" hash --threads 1 4.bin > a.txt
"$CAIRN" hash --threads 2 4.bin > b.txt
"$CAIRN" chunks --threads 3 4.bin > c.txt
"$CAIRN" chunks --threads 1 4.bin > d.txt
cmp a.txt b.txt && cmp c.txt d.txt && cat a.txt

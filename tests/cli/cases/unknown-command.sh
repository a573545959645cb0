"$CAIRN" frobnicate

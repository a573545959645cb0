"$CAIRN" admin frob

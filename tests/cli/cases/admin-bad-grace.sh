"$CAIRN" admin gc --data d --grace soon

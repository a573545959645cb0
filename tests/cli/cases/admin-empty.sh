"$CAIRN" admin stats --data d
"$CAIRN" admin fsck --data d
"$CAIRN" admin gc --data d --grace 0
CAIRN_DATA=d "$CAIRN" admin stats --json

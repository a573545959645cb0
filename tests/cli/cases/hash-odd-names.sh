cp 3.bin "$(printf "bad\377\376name")"
cp 3.bin "$(printf "new\nline")"
"$CAIRN" hash --json "$(printf "bad\377\376name")" "$(printf "new\nline")" > out.json
/usr/bin/python3 -c "import json,sys; d=json.load(open(\"out.json\")); print([e[\"path\"].encode(\"utf-8\",\"surrogateescape\") for e in d])"
"$CAIRN" hash "$(printf "new\nline")" "$(printf "bad\377\376name")" | sed -n l

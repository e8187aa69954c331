#!/usr/bin/env bash
set -u
D=$(mktemp -d /tmp/mixedj-XXXX)
P0=27411; P1=27412; P2=27413
J=127.0.0.1:$P0,127.0.0.1:$P1
cd /work/main && node bin/seqdb.js node --shard s1 --port $P0 --data $D/n0 --join $J --bootstrap-expect 2 > $D/n0.log 2>&1 &
cd /work/main && node bin/seqdb.js node --shard s1 --port $P1 --data $D/n1 --join $J --bootstrap-expect 2 > $D/n1.log 2>&1 &
sleep 5
L=$(for p in $P0 $P1; do redis-cli -p $p INFO | grep -q "^role:leader" && echo $p; done)
for i in $(seq 1 50); do redis-cli -p $L INC b s > /dev/null; done
cd /tmp/oldbuild && node bin/seqdb.js node --shard s1 --port $P2 --data $D/n2 --join $J,127.0.0.1:$P2 > $D/n2.log 2>&1 &
sleep 6
redis-cli -p $P2 INFO | grep -E "^role|^applied_index|^members" 
grep -h "refus\|without\|dropping peer" $D/*.log | head -5
pkill -f "data $D/" ; sleep 1

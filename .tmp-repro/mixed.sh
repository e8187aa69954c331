#!/usr/bin/env bash
# Two nodes of this build and one of the previous (dcecb8e) in one shard.
set -u
D=$(mktemp -d /tmp/mixed-XXXX)
P0=27401; P1=27402; P2=27403
J=127.0.0.1:$P0,127.0.0.1:$P1,127.0.0.1:$P2
cd /work/main && node bin/seqdb.js node --shard s1 --port $P0 --data $D/n0 --join $J --bootstrap-expect 3 > $D/n0.log 2>&1 &
cd /work/main && node bin/seqdb.js node --shard s1 --port $P1 --data $D/n1 --join $J --bootstrap-expect 3 > $D/n1.log 2>&1 &
cd /tmp/oldbuild && node bin/seqdb.js node --shard s1 --port $P2 --data $D/n2 --join $J --bootstrap-expect 3 > $D/n2.log 2>&1 &
sleep 6
for p in $P0 $P1 $P2; do redis-cli -p $p INFO | grep -E "^role|^leader:" | tr '\r\n' '  '; echo; done
L=$(for p in $P0 $P1 $P2; do redis-cli -p $p INFO | grep -q "^role:leader" && echo $p; done)
echo leader $L
for i in $(seq 1 300); do redis-cli -p $L INC b s > /dev/null; done
redis-cli -p $L GET b s
sleep 1
for p in $P0 $P1 $P2; do redis-cli -p $p INFO | grep -E "^applied_index" | tr '\r\n' '  '; echo; done
# The old node leads: transfer to it
OLDID=$(redis-cli -p $P2 INFO | grep ^node_id | cut -d: -f2 | tr -d '\r')
redis-cli -p $L SEQDB.TRANSFER $OLDID; sleep 2
redis-cli -p $P2 INFO | grep -E "^role" 
for i in $(seq 1 100); do redis-cli -p $P2 INC b s > /dev/null; done
redis-cli -p $P2 GET b s
sleep 1
for p in $P0 $P1 $P2; do redis-cli -p $p INFO | grep -E "^applied_index" | tr '\r\n' '  '; echo; done
grep -h "dropping peer\|unknown frame\|checksum\|refus" $D/*.log | head
echo "logs in $D"
pkill -f "data $D/" ; sleep 1

#!/bin/sh
# The origin's director script, as it ran with ipvsadm: a TCP service on the
# VIP, weighted least-connection, three direct-routing real servers with
# weights 1000/500/800, then the statistics. cli-script.test.ts runs it as it
# is and with every `ipvsadm` replaced by `ipvs-ts adm`.
VIP=10.0.0.100
RIP1=10.0.0.11
RIP2=10.0.0.12
RIP3=10.0.0.13

ipvsadm -C
ipvsadm -A -t $VIP:22136 -s wlc
ipvsadm -a -t $VIP:22136 -r $RIP1 -g -w 1000
ipvsadm -a -t $VIP:22136 -r $RIP2 -g -w 500
ipvsadm -a -t $VIP:22136 -r $RIP3 -g -w 800
ipvsadm -L -n
ipvsadm -L --stats

#!/bin/bash
# mote on lwIP for a person to look at: a TAP device on this machine (192.168.77.1/24), and
# mote-lwip-sample behind it at 192.168.77.2, answering with lwIP's own TCP/IP. Open the URL it
# prints in a browser on this machine; Ctrl-C stops it and removes the device. Needs root (a
# TAP device); `make lwip-check` runs the end-to-end check in a namespace instead.
#   scripts/lwip-demo.sh MOTE_LWIP_SAMPLE [TAP]
set -euo pipefail
sample=$1
tap=${2:-motedemo0}
if [ "$(id -u)" != 0 ]; then
  echo "lwip-demo: a TAP device needs root: sudo make lwip-demo" >&2
  exit 1
fi
if [ ! -e /dev/net/tun ]; then
  echo "lwip-demo: /dev/net/tun is missing: this machine has no TAP devices" >&2
  exit 1
fi
ip tuntap add dev "$tap" mode tap
trap 'ip link del "$tap" 2>/dev/null || true' EXIT
ip addr add 192.168.77.1/24 dev "$tap"
ip link set "$tap" up
echo "lwip-demo: TAP device $tap is 192.168.77.1; mote on lwIP is 192.168.77.2"
echo "lwip-demo: try  wget 192.168.77.2/index.html   or open  http://192.168.77.2/live/"
"$sample" --tap "$tap" --address 192.168.77.2 --gateway 192.168.77.1 --port 80 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; ip link del "$tap" 2>/dev/null || true' EXIT INT TERM
wait $pid

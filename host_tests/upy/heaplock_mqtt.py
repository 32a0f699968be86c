"""MicroPython unix port: with Home Assistant on (connected, idle), a call's frame loop still runs under heap_lock.

heaplock_call.py's two phones, the door with intercom.ha's HomeAssistant and
its MqttClient connected to a minimal broker in this process (it answers
CONNACK and swallows the rest, all before the lock). Then N frames of
Driver.step() with micropython.heap_lock() held: the MQTT deadline, service,
door-edge and poll-registration work of every pass allocates nothing; only
the RTP datagram reads may (the socket wrapper unlocks around them).
Arguments: frames, base port. Prints `N passed, N failed`."""

import sys
import time

from _locked import (host_phone, phone_config, write_tone, start_phones, settle, lock_frames,
                     allocation_failure, hang_up, close_phones, TcpPeer)
from intercom.ha import HomeAssistant

FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 300
BASE = int(sys.argv[2]) if len(sys.argv) > 2 else 47300


class Broker(TcpPeer):
    """Accepts one client, answers its CONNECT with CONNACK 0, reads and drops the rest."""

    acked = False

    def answer(self):
        if not self.acked and self.got[:1] == b"\x10":
            self.conn.send(b"\x20\x02\x00\x00")
            self.acked = True


def main():
    write_tone("/tmp/heaplock_tone.wav")
    broker = Broker(BASE + 30)
    ua_a, app_a, board_a, drv_a = host_phone(phone_config("door", BASE, BASE + 10), "/tmp/heaplock_tone.wav")
    ua_b, app_b, board_b, drv_b = host_phone(phone_config("flat", BASE + 2, BASE + 20), "/tmp/heaplock_tone.wav")
    app_a.cfg["mqtt"].update({"broker": "127.0.0.1", "port": BASE + 30, "allow_door": True})
    ha = HomeAssistant(app_a.cfg, ua_a, app_a, board_a, time.ticks_ms())
    app_a.integration = drv_a.integration = ha
    start_phones(drv_a, drv_b)
    ua_a.dial("sip:flat@127.0.0.1:%d" % (BASE + 2))
    # set up and warm up (as heaplock_call.py: until both sent RTCP), the broker served unlocked
    settle(drv_a, drv_b, serve=broker.serve)
    failures = 0
    if not ha.client.connected() or ha.announce:
        print("FAILED setup: MQTT not connected and announced", ha.client.state, board_a.events)
        return 1
    if b"homeassistant/event/intercom_door/doorbell/config" not in broker.got:
        print("FAILED setup: no discovery reached the broker")
        return 1
    if not [e for e in board_b.events if e.get("state") == "connected"]:
        print("FAILED setup: no connected call")
        return 1
    result = lock_frames(drv_a, drv_b, FRAMES, both=False)
    print("frames B=%d under heap_lock with MQTT connected, datagrams received %d, max_step_ms %d"
          % (result["frames_b"], result["datagrams"], drv_a.max_step_ms))
    failures += allocation_failure(result, "allocation under heap_lock with MQTT on")
    if not ha.client.connected():
        failures += 1
        print("FAILED: MQTT dropped during the call:", ha.client.last_problem)
    hang_up(drv_a, drv_b, serve=broker.serve)
    if b'"state": "ended"' not in broker.got:
        failures += 1
        print("FAILED: the call's end was not published")
    ha.close()
    broker.close()
    close_phones(drv_a, drv_b)
    print("%d passed, %d failed" % (1 - min(failures, 1), min(failures, 1)))
    return failures


if __name__ == "__main__":
    sys.exit(1 if main() else 0)

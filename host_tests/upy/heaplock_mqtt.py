"""MicroPython unix port: with Home Assistant on (connected, idle), a call's frame loop still runs under heap_lock.

heaplock_call.py's two phones, the door with intercom.ha's HomeAssistant and
its MqttClient connected to a minimal broker in this process (it answers
CONNACK and swallows the rest, all before the lock). Then N frames of
Driver.step() with micropython.heap_lock() held: the MQTT deadline, service,
door-edge and poll-registration work of every pass allocates nothing; only
the RTP datagram reads may (the socket wrapper unlocks around them).
Arguments: frames, base port. Prints `N passed, N failed`."""

import sys
import gc
import socket
import time
import micropython

import heaplock_call as hc
from _locked import allowed, locked
from intercom.ha import HomeAssistant

FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 300
BASE = int(sys.argv[2]) if len(sys.argv) > 2 else 47300


class Broker:
    """Accepts one client, answers its CONNECT with CONNACK 0, reads and drops the rest."""

    def __init__(self, port):
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        self.srv.listen(1)
        self.srv.setblocking(False)
        self.conn = None
        self.got = b""
        self.acked = False

    def serve(self):
        if self.conn is None:
            try:
                self.conn = self.srv.accept()[0]
                self.conn.setblocking(False)
            except OSError:
                return
        try:
            data = self.conn.recv(4096)
        except OSError:
            return
        if data:
            self.got += data
        if not self.acked and self.got[:1] == b"\x10":
            self.conn.send(b"\x20\x02\x00\x00")
            self.acked = True

    def close(self):
        for s in (self.conn, self.srv):
            if s is not None:
                s.close()


def main():
    hc.write_tone("/tmp/heaplock_tone.wav")
    broker = Broker(BASE + 30)
    ua_a, app_a, board_a, drv_a = hc.phone("door", BASE, BASE + 10, "/tmp/heaplock_tone.wav")
    ua_b, app_b, board_b, drv_b = hc.phone("flat", BASE + 2, BASE + 20, "/tmp/heaplock_tone.wav")
    app_a.cfg["mqtt"].update({"broker": "127.0.0.1", "port": BASE + 30, "allow_door": True})
    ha = HomeAssistant(app_a.cfg, ua_a, app_a, board_a, time.ticks_ms())
    app_a.integration = drv_a.integration = ha
    for drv in (drv_a, drv_b):
        drv.ua.tick(time.ticks_ms())
        drv.app.start(time.ticks_ms())
    ua_a.dial("sip:flat@127.0.0.1:%d" % (BASE + 2))
    start = time.ticks_ms()
    # set up and warm up (as heaplock_call.py: until both sent RTCP), the broker served unlocked
    while (time.ticks_diff(time.ticks_ms(), start) < 3000
           or (time.ticks_diff(time.ticks_ms(), start) < 8000
               and not (app_a.audio.session.rtcp.reports and app_b.audio.session.rtcp.reports))):
        drv_a.step()
        drv_b.step()
        broker.serve()
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
    gc.collect()
    before = app_b.audio.frames
    received_before = allowed[0]
    error = None
    micropython.heap_lock()
    locked[0] = True
    try:
        while app_b.audio.frames - before < FRAMES:
            drv_a.step()
            drv_b.step()
    except MemoryError as err:
        error = err
    finally:
        locked[0] = False
        micropython.heap_unlock()
    print("frames B=%d under heap_lock with MQTT connected, datagrams received %d, max_step_ms %d"
          % (app_b.audio.frames - before, allowed[0] - received_before, drv_a.max_step_ms))
    if error is not None:
        failures += 1
        print("FAILED: allocation under heap_lock with MQTT on:", repr(error))
        sys.print_exception(error)
    if not ha.client.connected():
        failures += 1
        print("FAILED: MQTT dropped during the call:", ha.client.last_problem)
    ua_a.hangup()
    for _ in range(50):
        drv_a.step()
        drv_b.step()
        broker.serve()
    if b'"state": "ended"' not in broker.got:
        failures += 1
        print("FAILED: the call's end was not published")
    ha.close()
    broker.close()
    for drv in (drv_a, drv_b):
        for sock in (drv.sip_sock, drv.rtp_sock, drv.rtcp_sock):
            sock.close()
    print("%d passed, %d failed" % (1 - min(failures, 1), min(failures, 1)))
    return failures


if __name__ == "__main__":
    sys.exit(1 if main() else 0)

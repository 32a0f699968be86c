"""Tests for intercom.mqtt.packet: the MQTT 3.1.1 codec (OASIS MQTT 3.1.1 §2-§3), one per rule."""

from _helpers import raises
from intercom.mqtt import packet
from intercom.mqtt.packet import MqttError, PacketReader


def test_mqtt_2_2_3_remaining_length_encodes_in_7_bit_groups():
    assert packet.publish("t", b"x" * 200)[:3] == b"\x30\xcb\x01"    # 203 = 75 + 1 * 128
    assert packet.PINGREQ_PACKET == b"\xc0\x00"


def test_mqtt_3_1_connect_carries_clean_session_will_user_password_and_keepalive():
    data = packet.connect("door", 60, "u", "p", "b/availability", b"offline", True)
    assert data[0] == 0x10
    body = data[2:]
    assert body[:7] == b"\x00\x04MQTT\x04"
    # user, password, will retain, will (QoS 0), clean session
    assert body[7] == 0x80 | 0x40 | 0x20 | 0x04 | 0x02
    assert body[8:10] == b"\x00\x3c"
    assert body[10:] == b"\x00\x04door\x00\x0eb/availability\x00\x07offline\x00\x01u\x00\x01p"


def test_mqtt_3_1_connect_without_credentials_sets_no_user_flags():
    data = packet.connect("door", 30)
    assert data[9] == 0x02


def test_mqtt_3_3_publish_qos0_has_no_packet_id_and_retain_bit():
    assert packet.publish("a/b", "on", True) == b"\x31\x07\x00\x03a/bon"
    assert packet.publish("a/b", b"", False) == b"\x30\x05\x00\x03a/b"


def test_mqtt_3_8_subscribe_has_flags_0010_and_qos0_per_filter():
    assert packet.subscribe(7, ["a", "b/c"]) == b"\x82\x0c\x00\x07\x00\x01a\x00\x00\x03b/c\x00"


def test_mqtt_framing_across_partial_feeds():
    reader = PacketReader()
    data = packet.publish("t", b"hello") + b"\xd0\x00"
    for i in range(len(data)):
        reader.feed(data[i:i + 1])
        if i < 9:
            assert reader.next_packet() is None
    kind, flags, body = reader.next_packet()
    assert (kind, flags) == (packet.PUBLISH, 0)
    assert packet.parse_publish(flags, body) == ("t", b"hello", False)
    assert reader.next_packet()[0] == packet.PINGRESP
    assert reader.next_packet() is None


def test_mqtt_oversized_packet_refused_before_its_body_arrives():
    reader = PacketReader(1024)
    reader.feed(b"\x30\xa0\x8d\x06")          # 100,000 bytes announced
    assert "larger" in str(raises(MqttError, reader.next_packet))


def test_mqtt_2_2_3_remaining_length_of_five_bytes_is_malformed():
    reader = PacketReader()
    reader.feed(b"\x30\xff\xff\xff\xff\x01")
    assert "malformed" in str(raises(MqttError, reader.next_packet))


def test_mqtt_reader_space_bounds_the_buffer():
    reader = PacketReader(100)
    reader.feed(b"\x30\x10")
    assert reader.space() == 98


def test_mqtt_3_2_connack_return_code_and_malformed_connack():
    assert packet.parse_connack(0, b"\x00\x05") == (False, 5)
    assert packet.parse_connack(0, b"\x01\x00") == (True, 0)
    raises(MqttError, packet.parse_connack, 0, b"\x00")
    raises(MqttError, packet.parse_connack, 0, b"\x02\x00")


def test_mqtt_3_3_1_2_publish_qos3_is_malformed_and_qos1_skips_its_id():
    raises(MqttError, packet.parse_publish, 6, b"\x00\x01t")
    assert packet.parse_publish(2 | 1, b"\x00\x01t\x00\x09cmd") == ("t", b"cmd", True)


def test_mqtt_publish_with_topic_longer_than_body_is_malformed():
    raises(MqttError, packet.parse_publish, 0, b"\x00\x09ab")
    raises(MqttError, packet.parse_publish, 0, b"\x00")


def test_mqtt_3_9_suback_codes():
    assert packet.parse_suback(b"\x00\x01\x00\x80") == b"\x00\x80"
    raises(MqttError, packet.parse_suback, b"\x00")

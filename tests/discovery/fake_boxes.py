"""Test peer (runs inside a test's private network namespace): announce fake boxes over mDNS.

Unsolicited mDNS answers, built with python-zeroconf's records and sent from port 5353 on one
interface address, the way an attacker on the venue network would: each fake is an ``_http._tcp``
service with our TXT keys (``txtvers``, ``oscjson_port``), pointing at ADDRESS (or, with ``+``,
at consecutive addresses from it) and PORT. Nothing answers queries: the records live as long as
their TTL claims. Sends ROUNDS announcements 1 s apart, then prints how many services it announced.

usage: fake_boxes.py IFACE_IP COUNT NAME_PREFIX ADDRESS[+] PORT [TTL [ROUNDS]]
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import time

from zeroconf import DNSOutgoing, ServiceInfo

RESPONSE = 0x8400  # QR + AA: an authoritative answer
TYPE = "_http._tcp.local."


def infos(count: int, prefix: str, address: str, port: int, ttl: int) -> list[ServiceInfo]:
    """One ServiceInfo per fake box; ``address`` ending in ``+`` counts up from that address."""
    step = address.endswith("+")
    first = ipaddress.IPv4Address(address.rstrip("+"))
    out = []
    for i in range(count):
        ip = first + i if step else first
        props = {"txtvers": "1", "oscjson_port": "8081", "version": "9.9", "model": "fake", "backend": "fake"}
        out.append(
            ServiceInfo(
                TYPE,
                f"{prefix}-{i:04d}.{TYPE}",
                port=port,
                addresses=[ip.packed],
                properties=props,
                server=f"{prefix}-{i:04d}.local.",
                host_ttl=ttl,
                other_ttl=ttl,
            )
        )
    return out


def packets(services: list[ServiceInfo], per_packet: int = 4) -> list[bytes]:
    """Announcement packets: PTR, SRV, TXT and A of ``per_packet`` services each."""
    out: list[bytes] = []
    for i in range(0, len(services), per_packet):
        msg = DNSOutgoing(RESPONSE)
        for info in services[i : i + per_packet]:
            for record in (info.dns_pointer(), info.dns_service(), info.dns_text(), *info.dns_addresses()):
                msg.add_answer_at_time(record, 0)
        out += msg.packets()
    return out


def main() -> None:
    iface, count, prefix, address, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    ttl = int(sys.argv[6]) if len(sys.argv) > 6 else 4500
    rounds = int(sys.argv[7]) if len(sys.argv) > 7 else 2
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sock.bind((iface, 5353))
    data = packets(infos(count, prefix, address, port, ttl))
    for r in range(rounds):
        for packet in data:
            sock.sendto(packet, ("224.0.0.251", 5353))
            time.sleep(0.001)  # a burst, not a single overflowing queue
        if r + 1 < rounds:
            time.sleep(1.0)
    sock.close()
    print(count, flush=True)


if __name__ == "__main__":
    main()

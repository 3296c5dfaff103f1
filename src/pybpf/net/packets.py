"""Build test frames with dpkt: Ethernet + IPv4/IPv6 + UDP/TCP/ICMP, ARP.

Every builder returns the frame's bytes, with lengths and checksums filled in by dpkt
(pass ``udp_checksum=False`` for a UDP datagram without one). Addresses are text
(``"10.0.0.1"``, ``"02:00:00:00:00:01"``). Used by the example captures, the tests and
``bench/pcap_run.py``, so that all of them describe traffic the same way.
"""

from __future__ import annotations

import socket
import struct

import dpkt

MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def mac(text: str) -> bytes:
    """``"02:00:00:00:00:01"`` -> 6 bytes."""
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return raw


def ip4(text: str) -> bytes:
    return socket.inet_aton(text)


def ether(payload: bytes | dpkt.Packet, ethertype: int = dpkt.ethernet.ETH_TYPE_IP, *,
          src: str = MAC_A, dst: str = MAC_B) -> bytes:
    """An Ethernet II frame around ``payload`` (no padding to 60 bytes, no FCS)."""
    return bytes(dpkt.ethernet.Ethernet(src=mac(src), dst=mac(dst), type=ethertype,
                                        data=payload))


def _ipv4(src: str, dst: str, proto: int, payload: dpkt.Packet | bytes, ttl: int,
          ident: int, options: bytes = b"") -> dpkt.ip.IP:
    ip = dpkt.ip.IP(src=ip4(src), dst=ip4(dst), p=proto, ttl=ttl, id=ident, data=payload)
    if options:
        if len(options) % 4:
            raise ValueError("IPv4 options must be a multiple of 4 bytes")
        ip.opts = options
        ip.hl = 5 + len(options) // 4
    return ip


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *,
         ttl: int = 64, ident: int = 0, udp_checksum: bool = True, options: bytes = b"",
         mac_src: str = MAC_A, mac_dst: str = MAC_B) -> bytes:
    """Ethernet / IPv4 / UDP. ``udp_checksum=False`` leaves the UDP checksum 0 (none)."""
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    ip = _ipv4(src, dst, dpkt.ip.IP_PROTO_UDP, udp, ttl, ident, options)
    frame = bytearray(ether(ip, src=mac_src, dst=mac_dst))
    if not udp_checksum:
        struct.pack_into("!H", frame, 14 + ip.hl * 4 + 6, 0)
    return bytes(frame)


def tcp4(src: str, dst: str, sport: int, dport: int, flags: int = TCP_ACK,
         payload: bytes = b"", *, seq: int = 1, ack: int = 0, ttl: int = 64,
         ident: int = 0, mac_src: str = MAC_A, mac_dst: str = MAC_B) -> bytes:
    """Ethernet / IPv4 / TCP with the given flags (``TCP_SYN | TCP_ACK``...)."""
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack,
                       win=65535, data=payload)
    ip = _ipv4(src, dst, dpkt.ip.IP_PROTO_TCP, tcp, ttl, ident)
    return ether(ip, src=mac_src, dst=mac_dst)


def icmp4_echo(src: str, dst: str, ident: int = 1, seq: int = 1, payload: bytes = b"",
               *, reply: bool = False, ttl: int = 64, mac_src: str = MAC_A,
               mac_dst: str = MAC_B) -> bytes:
    """Ethernet / IPv4 / ICMP echo request (or reply)."""
    echo = dpkt.icmp.ICMP.Echo(id=ident, seq=seq, data=payload)
    icmp = dpkt.icmp.ICMP(type=dpkt.icmp.ICMP_ECHOREPLY if reply else dpkt.icmp.ICMP_ECHO,
                          code=0, data=echo)
    ip = _ipv4(src, dst, dpkt.ip.IP_PROTO_ICMP, icmp, ttl, 0)
    return ether(ip, src=mac_src, dst=mac_dst)


def ipv4_raw(src: str, dst: str, proto: int, payload: bytes = b"", *, ttl: int = 64,
             mac_src: str = MAC_A, mac_dst: str = MAC_B) -> bytes:
    """Ethernet / IPv4 carrying ``payload`` as protocol ``proto`` (GRE, ESP, ...)."""
    return ether(_ipv4(src, dst, proto, payload, ttl, 0), src=mac_src, dst=mac_dst)


def udp6(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *,
         mac_src: str = MAC_A, mac_dst: str = MAC_B) -> bytes:
    """Ethernet / IPv6 / UDP."""
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    ip6 = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, src),
                       dst=socket.inet_pton(socket.AF_INET6, dst), nxt=dpkt.ip.IP_PROTO_UDP,
                       hlim=64, data=udp)
    ip6.plen = len(udp)
    udp.ulen = len(udp)
    return ether(ip6, dpkt.ethernet.ETH_TYPE_IP6, src=mac_src, dst=mac_dst)


def arp_request(sender_ip: str, target_ip: str, *, mac_src: str = MAC_A) -> bytes:
    """Ethernet / ARP who-has, broadcast."""
    arp = dpkt.arp.ARP(sha=mac(mac_src), spa=ip4(sender_ip), tha=b"\0" * 6,
                       tpa=ip4(target_ip), op=dpkt.arp.ARP_OP_REQUEST)
    return ether(arp, dpkt.ethernet.ETH_TYPE_ARP, src=mac_src, dst="ff:ff:ff:ff:ff:ff")


def dns_query(name: str, ident: int = 0x1234) -> bytes:
    """A DNS query for ``name`` (type A), as a UDP payload."""
    dns = dpkt.dns.DNS(id=ident, op=dpkt.dns.DNS_RD, qd=[dpkt.dns.DNS.Q(name=name)])
    return bytes(dns)
